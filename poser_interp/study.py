"""Run a registered strategy on every pair of a zoo, into a run folder (cached, atomic)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from poser_interp.data.poser import load_model_pairs
from poser_interp.data.personas import is_faker as persona_is_faker
from poser_interp.errors import PoserInputError
from poser_interp.zoo.manifest import DEFAULT_ZOO, MANIFEST, ZooManifest, sha256_file

RUNS_DIR = Path("runs")


@dataclass(frozen=True)
class RunResult:
    """Where a run lives and what its `metrics.json` says."""

    path: Path
    metrics: dict[str, Any]


def default_run_dir(strategy: str, config: dict[str, Any], zoo: Path, seed: int, dtype: str | None = None) -> Path:
    """`runs/<strategy>-<hash>`: the hash covers the config, the zoo's manifest (or a Poser-layout folder's
    `model_pairs.json`), the seed and a non-default dtype."""
    identity = zoo / MANIFEST if (zoo / MANIFEST).is_file() else zoo / "model_pairs.json"
    key = {"config": config, "zoo": sha256_file(identity), "seed": seed} | ({"dtype": dtype} if dtype else {})
    return RUNS_DIR / f"{strategy}-{hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:10]}"


def zoo_source(zoo: str | Path | None) -> tuple[Path, Callable[[str], bool]]:
    """A zoo folder (with `manifest.json`) or a Poser-layout folder of Hugging Face checkpoints (with
    `model_pairs.json`, `data/benchmark/*.json` and one checkpoint folder per model): its root and the
    evaluator's labels (the manifest's, or Poser's persona names)."""
    root = Path(zoo or DEFAULT_ZOO)
    if (root / MANIFEST).is_file() or not (root / "model_pairs.json").is_file():
        return root, ZooManifest.load(root).is_faker
    return root, persona_is_faker


def run_figures(strategy: str) -> dict[str, Callable[[Path], Any]]:
    """The paper figures each strategy's run folder draws (name -> pure function of the folder)."""
    if strategy == "noise":
        from poser_interp.figures.noise import figure5, figure11

        return {"figure5": figure5, "figure11": figure11}
    if strategy == "steering":
        from poser_interp.figures.steering import figure4

        return {"figure4": figure4}
    if strategy == "concepts":
        from poser_interp.figures.concepts import figure7

        return {"figure7": figure7}
    if strategy == "decision-speed":
        from poser_interp.figures.decision_speed import figure8

        return {"figure8": figure8}
    if strategy == "learning-speed":
        from poser_interp.figures.training import figure6, figure12

        return {"figure6": figure6, "figure12": figure12}
    if strategy == "train-against-noise":
        from poser_interp.figures.training import figure1, figure10

        return {"figure1": figure1, "figure10": figure10}
    return {}


def write_run_figures(strategy: str, run_dir: Path) -> list[Path]:
    """Draw the strategy's figures into its run folder as self-contained HTML."""
    from poser_interp.figures import save_figure

    return [p for name, fn in run_figures(strategy).items() for p in save_figure(fn(run_dir), run_dir / name)]


def run_on_zoo(strategy: str, options: dict[str, Any], *, zoo: str | Path | None = None, out: str | Path | None = None,
               seed: int = 0, progress: bool = True, device: str = "cpu", dtype: str | None = None) -> RunResult:
    """Score every model of a zoo (or Poser-layout folder) with `strategy` on its benchmark files and
    evaluate all pairs; models are loaded on `device` in `dtype` (default float32)."""
    from poser_interp.runs import run_strategy
    from poser_interp.strategies.base import get_detector
    from poser_interp.zoo.load import load_model, parse_dtype

    root, is_faker = zoo_source(zoo)
    parse_dtype(dtype)  # a bad dtype fails before any run folder is made
    detector = get_detector(strategy, **{k: v for k, v in options.items() if v is not None})
    out = Path(out) if out is not None else default_run_dir(strategy, detector.config(), root, seed, dtype)
    run_strategy(detector, out=out, benchmark_dir=root, pairs=load_model_pairs(root / "model_pairs.json"),
                 load_model=lambda name: load_model(name, root, device=device, dtype=dtype), is_faker=is_faker,
                 seed=seed, progress=progress)
    return RunResult(out, json.loads((out / "metrics.json").read_text()))


def train_against_on_zoo(options: dict[str, Any], *, zoo: str | Path | None = None, out: str | Path | None = None,
                         seed: int = 0, progress: bool = True) -> RunResult:
    """Train every zoo model against strategy 2 (both methods) and re-detect; see `train_against`."""
    from poser_interp.data.personas import model_persona
    from poser_interp.train_against import TrainAgainstConfig, run_train_against
    from poser_interp.zoo.load import load_model

    manifest = ZooManifest.load(zoo or DEFAULT_ZOO)
    try:
        config = TrainAgainstConfig(**{k: v for k, v in options.items() if v is not None})
    except TypeError as err:
        raise PoserInputError(f"train-against: bad options {sorted(options)} ({err})") from None
    out = Path(out) if out is not None else default_run_dir("train-against-noise", config.to_json(), manifest.root, seed)
    metrics = run_train_against(out=out, zoo_dir=manifest.root, pairs=load_model_pairs(manifest.root / "model_pairs.json"),
                                load_model=lambda name: load_model(name, manifest.root), is_faker=manifest.is_faker,
                                persona_of=lambda name: model_persona(name)[0], recipe=manifest.data["recipe"], config=config, seed=seed,
                                progress=progress)
    return RunResult(out, metrics)
