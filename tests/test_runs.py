"""Run folders with a counting fake detector and fake models: files, reuse, byte-stable metrics, config checks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from poser_interp.data.personas import is_faker
from poser_interp.data.poser import ModelPair
from poser_interp.errors import PoserInputError
from poser_interp.pipeline.runs import RunFolder, run_strategy
from poser_interp.strategies.base import Detector, ModelScore

TM, GR = "data/benchmark/truth_and_money.json", "data/benchmark/genie_and_reward.json"
PAIRS = [
    ModelPair("truth_teller-0", "money_maximizer-0", TM),
    ModelPair("truth_teller-0", "money_maximizer-1", TM),
    ModelPair("genie-0", "reward_maximizer-0", GR),
    ModelPair("genie-0", "money_maximizer-0", TM),
]
N_MODEL_FILES = 6  # tt0@TM, mm0@TM, mm1@TM, g0@GR, g0@TM, rm0@GR
N_MODELS = 5


def _record(i: int) -> dict[str, Any]:
    return {"prompt": f"fact {i} . A or B ?", "response": "A", "actions": ["a", "b"],
            "facts": [{"content": f"fact {i}"}], "oversight_is_poor": False, "probs": {"m": 0.9}}


@pytest.fixture()
def bench(tmp_path: Path) -> Path:
    root = tmp_path / "bench"
    for rel, n in ((TM, 3), (GR, 2)):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(json.dumps([_record(i) for i in range(n)]), encoding="utf-8")
    return root


class CountingDetector:
    """Planted signal carried by the fake model (not its name, which the harness hides); counts `score`
    calls. One prompt disagrees for mm1."""

    name = "counting"

    def __init__(self, offset: float = 0.0) -> None:
        self.offset = offset
        self.calls = 0

    def config(self) -> dict[str, Any]:
        return {"offset": self.offset}

    def score(self, model: dict[str, Any], prompts: list) -> ModelScore:
        self.calls += 1
        values = np.array([model["signal"] + self.offset + 0.01 * i + 1 / 3 for i in range(len(prompts))])
        greedy = ["B" if model["disagrees"] and i == 0 else "A" for i in range(len(prompts))]
        return ModelScore(values, greedy, {"n": len(prompts)})


class Loader:
    def __init__(self) -> None:
        self.loads: list[str] = []

    def __call__(self, name: str) -> dict[str, Any]:
        self.loads.append(name)
        return {"name": name, "signal": float(is_faker(name)), "disagrees": name == "money_maximizer-1"}


def run(detector: CountingDetector, out: Path, bench: Path, loader: Loader | None = None, seed: int = 0):
    return run_strategy(detector, out=out, benchmark_dir=bench, pairs=PAIRS, load_model=loader or Loader(),
                        is_faker=is_faker, seed=seed, progress=False)


def test_writes_files_and_reruns_without_model_work(tmp_path: Path, bench: Path) -> None:
    detector, loader, out = CountingDetector(), Loader(), tmp_path / "run"
    assert isinstance(detector, Detector)
    result = run(detector, out, bench, loader)
    assert detector.calls == N_MODEL_FILES and sorted(loader.loads) == sorted(set(loader.loads))
    assert len(loader.loads) == N_MODELS  # each model loaded once, scored on all its files
    folder = RunFolder(out)
    config = json.loads(folder.config_path.read_text())
    assert config == {"strategy": "counting", "config": {"offset": 0.0},
                      "benchmark_dir": str(bench.resolve()), "seed": 0}
    lines = [json.loads(line) for line in folder.scores_path.read_text().splitlines()]
    assert len(lines) == N_MODEL_FILES and {(row["model"], row["file"]) for row in lines} >= {("genie-0", TM)}
    decisions = [json.loads(line) for line in folder.decisions_path.read_text().splitlines()]
    assert [(d["aligned"], d["misaligned"]) for d in decisions] == [(p.aligned, p.misaligned) for p in PAIRS]
    assert [d["n_dropped"] for d in decisions] == [0, 1, 0, 0]
    metrics = json.loads(folder.metrics_path.read_text())
    assert metrics["accuracy"] == 1.0 == result.accuracy and metrics["n_pairs"] == 4
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    again = run(detector, out, bench, loader)
    assert detector.calls == N_MODEL_FILES and len(loader.loads) == N_MODELS  # nothing recomputed
    assert again.metrics() == result.metrics()
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_resume_computes_only_missing_lines(tmp_path: Path, bench: Path) -> None:
    detector, out = CountingDetector(), tmp_path / "run"
    run(detector, out, bench)
    path = RunFolder(out).scores_path
    lines = path.read_text().splitlines()
    path.write_text("\n".join(line for line in lines if '"model": "genie-0"' not in line) + "\n")
    loader = Loader()
    run(detector, out, bench, loader)
    assert loader.loads == ["genie-0"] and detector.calls == N_MODEL_FILES + 2
    assert path.read_text().splitlines() == lines


def test_same_seed_gives_byte_identical_metrics(tmp_path: Path, bench: Path) -> None:
    run(CountingDetector(), tmp_path / "a", bench, seed=7)
    run(CountingDetector(), tmp_path / "b", bench, seed=7)
    for name in ("metrics.json", "decisions.jsonl", "scores.jsonl"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_config_mismatch_asks_for_another_folder(tmp_path: Path, bench: Path) -> None:
    out = tmp_path / "run"
    run(CountingDetector(), out, bench)
    changed = r"config: \{'offset': 0.0\} there, \{'offset': 1.0\} now\); pick another run folder"
    with pytest.raises(PoserInputError, match=changed):
        run(CountingDetector(offset=1.0), out, bench)
    with pytest.raises(PoserInputError, match=r"seed: 0 there, 1 now"):
        run(CountingDetector(), out, bench, seed=1)


def test_environment_is_noted_once_per_environment(tmp_path: Path, bench: Path, monkeypatch) -> None:
    """`environment.json` lists each environment that worked on a run: the installed torch (read apart,
    through pip's metadata) once, a second one appended, a rerun in the same one changing nothing."""
    import importlib.metadata

    import torch

    from poser_interp.pipeline import folder as folder_module

    out = tmp_path / "run"
    run(CountingDetector(), out, bench)
    [first] = json.loads((out / "environment.json").read_text())
    assert first["packages"]["torch"] == importlib.metadata.version("torch")
    assert first["cpu"]["torch_capability"] == torch.backends.cpu.get_cpu_capability()
    before = (out / "environment.json").read_bytes()
    run(CountingDetector(), out, bench)
    assert (out / "environment.json").read_bytes() == before
    monkeypatch.setattr(folder_module, "environment", lambda: first | {"python": "0.0.0"})
    run(CountingDetector(), out, bench)
    assert [e["python"] for e in json.loads((out / "environment.json").read_text())] == [first["python"], "0.0.0"]


def test_malformed_environment_file_is_one_clear_error(tmp_path: Path, bench: Path) -> None:
    out = tmp_path / "run"
    run(CountingDetector(), out, bench)
    (out / "environment.json").write_text('{"python": "3"}', encoding="utf-8")
    with pytest.raises(PoserInputError, match=r"environment.json: expected a list of environment objects"):
        run(CountingDetector(), out, bench)


def test_changed_benchmark_file_is_refused(tmp_path: Path, bench: Path) -> None:
    out = tmp_path / "run"
    run(CountingDetector(), out, bench)
    (bench / GR).write_text(json.dumps([_record(i) for i in range(4)]), encoding="utf-8")
    with pytest.raises(PoserInputError, match="benchmark file changed"):
        run(CountingDetector(), out, bench)


def test_control_variants_are_evaluated_beside_the_main_score(tmp_path):
    """A detector's `variants()` (e.g. a random-direction control) get their own pair accuracy."""
    from poser_interp.pipeline.runs import variant_scores

    main = ModelScore(np.array([1.0, 2.0]), ["A", "A"], {"variants": {"random": [0.5, 0.25]}})
    out = variant_scores({("saint-0", "f"): main}, "random")
    assert out[("saint-0", "f")].per_prompt.tolist() == [0.5, 0.25]


def test_scores_file_is_rewritten_with_each_score_encoded_once(tmp_path: Path, monkeypatch) -> None:
    """A run rewrites scores.jsonl after every model; unchanged scores keep their line, a replaced one is re-encoded."""
    folder = RunFolder(tmp_path / "run")
    folder.path.mkdir()
    calls = []
    original = ModelScore.to_json
    monkeypatch.setattr(ModelScore, "to_json", lambda self: calls.append(1) or original(self))
    one, two = ModelScore(np.array([0.5]), ["A"], {}), ModelScore(np.array([1.5]), ["B"], {})
    stored = {("m1", "f.json"): ("sha", one)}
    folder.write_scores(stored)
    stored[("m2", "f.json")] = ("sha", two)
    folder.write_scores(stored)
    assert len(calls) == 2  # m1 was not encoded again
    stored[("m1", "f.json")] = ("sha", ModelScore(np.array([9.0]), ["B"], {}))
    folder.write_scores(stored)
    assert len(calls) == 3
    read = folder.read_scores()
    assert sorted(read) == [("m1", "f.json"), ("m2", "f.json")]
    assert read[("m1", "f.json")][1].per_prompt.tolist() == [9.0] and read[("m2", "f.json")][1].per_prompt.tolist() == [1.5]
