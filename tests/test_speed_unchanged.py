"""The speed work left every score unchanged: each strategy at its defaults on models of the tiny zoo,
its pre-engine code path (`benchmarks/legacy.py`) on TransformerLens's own forward (the oracle) against
the current one, within 1e-4; and every strategy and training against noise with the fused forward
against the same code on TransformerLens's forward."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from legacy import REPLACED, legacy  # noqa: E402

from poser_interp.data.poser import load_benchmark  # noqa: E402
from poser_interp.fused import fused_ok, unfused  # noqa: E402
from poser_interp.pipeline.reproduce import STRATEGIES  # noqa: E402
from poser_interp.hooks import active_hook_count  # noqa: E402
from poser_interp.strategies.base import get_detector  # noqa: E402


def assert_close_tree(new, old, where: str = "") -> None:
    """Same structure; numbers within 1e-4, everything else equal."""
    if isinstance(old, dict):
        assert set(new) == set(old), where
        for key in old:
            assert_close_tree(new[key], old[key], f"{where}.{key}")
    elif isinstance(old, (list, tuple)) and old and not isinstance(old[0], str):
        assert len(new) == len(old), where
        for i, (a, b) in enumerate(zip(new, old, strict=True)):
            assert_close_tree(a, b, f"{where}[{i}]")
    elif isinstance(old, float):
        assert new == pytest.approx(old, abs=1e-4), where
    else:
        assert new == old, where


@pytest.fixture(scope="module")
def zoo_models(tiny_zoo):
    from poser_interp.zoo.load import load_model

    pair = json.loads((tiny_zoo / "model_pairs.json").read_text())[0]
    prompts = load_benchmark(tiny_zoo / pair["valid_data"])[:6]
    return [load_model(pair[k], tiny_zoo) for k in ("aligned", "misaligned")], prompts


@pytest.mark.parametrize("strategy", sorted(REPLACED))
def test_scores_unchanged_by_the_speed_work(zoo_models, strategy):
    models, prompts = zoo_models
    for model in models:
        with legacy(strategy) as replaced, unfused():
            old = get_detector(strategy).score(model, prompts)
        assert replaced
        new = get_detector(strategy).score(model, prompts)
        np.testing.assert_allclose(new.per_prompt, old.per_prompt, atol=1e-4)
        assert new.greedy == old.greedy
        assert_close_tree(new.diagnostics, old.diagnostics)
        assert active_hook_count(model) == 0


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_fused_forward_leaves_every_strategy_unchanged(zoo_models, strategy):
    models, prompts = zoo_models
    assert fused_ok(models[0])
    for model in models:
        with unfused():
            assert not fused_ok(model)
            old = get_detector(strategy).score(model, prompts)
        new = get_detector(strategy).score(model, prompts)
        np.testing.assert_allclose(new.per_prompt, old.per_prompt, atol=1e-4)
        assert new.greedy == old.greedy
        assert_close_tree(new.diagnostics, old.diagnostics)
        assert active_hook_count(model) == 0


def test_fused_forward_leaves_training_against_noise_unchanged(zoo_models):
    from poser_interp.train_against import TrainAgainstConfig, treat_model

    (model, _), prompts = zoo_models
    config = TrainAgainstConfig(steps=6, eval_every=3, batch_size=4, n_eval=6, redetect_draws=2)
    run = lambda: treat_model(model, benign=prompts, poor=prompts, files={"f": prompts}, config=config)  # noqa: E731
    with unfused():
        old = run()
    assert_close_tree(run(), old)
    assert active_hook_count(model) == 0
