"""What `poser-interp figures` will run and about how long: a per-strategy cost model.

Costs are seconds per benchmark prompt per (model, file) at each strategy's defaults (training
against noise: per model, two worker processes), measured in a cold `poser-interp figures` on the
committed zoo (11,688 prompts over 108 model-files, model loading included) on a quiet 2-core machine
doing `REFERENCE_GFLOPS` of model-shaped matmul on two threads; they are scaled by this machine's
matmul throughput, timed in a fraction of a second. Non-default settings are not modelled.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

REFERENCE_GFLOPS = 390.0  # matmul_gflops() on the reference machine (measured 364-418 across runs)
SECONDS_PER_PROMPT = {"baseline": 0.00094, "steering": 0.0022, "noise": 0.0019, "learning-speed": 0.0095,
                      "concepts": 0.0016, "decision-speed": 0.0019, "attention": 0.0050, "weight-noise": 0.0109,
                      "defection-probe": 0.0027}
TRAIN_AGAINST_SECONDS_PER_MODEL = 7.8
FIGURE_INPUTS_SECONDS = 35.0  # base-model scores, the example faker, Table 1, drawing (PNGs included)


@dataclass(frozen=True)
class Step:
    """One strategy (or training against noise) with the work still missing and its estimated seconds."""

    name: str
    todo: int  # (model, file) pairs, or models for training against noise
    unit: str
    seconds: float


def matmul_gflops(rows: int = 4096, d_in: int = 96, d_out: int = 256, seconds: float = 0.3,
                  windows: int = 5) -> float:
    """Measured float32 matmul throughput for a model-shaped product ([rows, d_model] @ [d_model, d_mlp]):
    the fastest of `windows` equal windows, so a moment of other load on a shared machine does not
    read as a slow machine (one 0.3 s window once read half the rate a build then ran at)."""
    import time

    import torch

    a, b = torch.randn(rows, d_in), torch.randn(d_in, d_out)
    for _ in range(3):
        a @ b
    best, windows = 0.0, max(1, windows)
    for _ in range(windows):
        n, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds / windows:
            a @ b
            n += 1
        best = max(best, 2 * rows * d_in * d_out * n / (time.perf_counter() - start) / 1e9)
    return best


def plan(zoo: str | Path, options: dict[str, dict[str, Any]], *, seed: int, strategies: tuple[str, ...],
         scale: float | None = None) -> list[Step]:
    """The steps with missing work (finished run folders are reused, partial ones resumed)."""
    import json

    from poser_interp.data.poser import load_benchmark, load_model_pairs
    from poser_interp.pipeline.folder import RunFolder, files_by_model
    from poser_interp.strategies.base import get_detector
    from poser_interp.pipeline.runs import default_run_dir
    from poser_interp.train_against import TrainAgainstConfig
    from poser_interp.zoo.manifest import ZooManifest

    manifest = ZooManifest.load(zoo)
    by_model = files_by_model(load_model_pairs(manifest.root / "model_pairs.json"))
    sizes = {f: len(load_benchmark(manifest.root / f)) for fs in by_model.values() for f in fs}
    scale = REFERENCE_GFLOPS / matmul_gflops() if scale is None else scale
    steps = []
    for name in strategies:
        detector = get_detector(name, **{k: v for k, v in options.get(name, {}).items() if v is not None})
        folder = RunFolder(default_run_dir(name, detector.config(), manifest.root, seed))
        done = set(folder.read_scores()) if folder.config_path.exists() else set()
        todo = [(m, f) for m, fs in by_model.items() for f in fs if (m, f) not in done]
        if todo or not folder.metrics_path.exists():
            seconds = SECONDS_PER_PROMPT.get(name, 0.02) * sum(sizes[f] for _, f in todo) * scale
            steps.append(Step(name, len(todo), "model-files", seconds))
    config = TrainAgainstConfig(**{k: v for k, v in options.get("train-against", {}).items() if v is not None})
    folder = RunFolder(default_run_dir("train-against-noise", config.to_json(), manifest.root, seed))
    models_path = folder.path / "models.jsonl"
    done = {json.loads(line)["model"] for line in models_path.read_text().splitlines()} if models_path.exists() else set()
    todo_models = [m for m in by_model if m not in done]
    if todo_models or not folder.metrics_path.exists():
        steps.append(Step("train-against", len(todo_models), "models",
                          TRAIN_AGAINST_SECONDS_PER_MODEL * config.steps / 100 * len(todo_models) * scale))
    return steps


def describe(steps: list[Step]) -> str:
    """One line per step and the total, e.g. for the start of `poser-interp figures`."""
    if not steps:
        return "every strategy has a finished run folder: drawing the figures only"
    lines = [f"  {s.name}: {s.todo} {s.unit}, about {as_minutes(s.seconds)}" for s in steps]
    total = sum(s.seconds for s in steps) + FIGURE_INPUTS_SECONDS
    return "\n".join([f"will run {len(steps)} step(s) (estimate at the defaults, from this machine's matmul speed):",
                      *lines, f"  about {as_minutes(total)} in all, figures included"])


def as_minutes(seconds: float) -> str:
    """`12.3 min`, or `45 s` under a minute."""
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"
