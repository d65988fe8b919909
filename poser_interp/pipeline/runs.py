"""Run folders, and running a strategy over a zoo: config, per-model scores, pair decisions, metrics.

Per-model work is done once per (model, benchmark file) and kept in `scores.jsonl`, so re-running a
finished run does no model work and an interrupted one picks up where it stopped. Every file is
written atomically: each is complete or absent.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from poser_interp.data.poser import ModelPair, load_benchmark, load_model_pairs
from poser_interp.data.records import Scenario
from poser_interp.errors import PoserInputError
from poser_interp.evaluation.diagnostics import stratified_effects
from poser_interp.evaluation.pairs import PairEvaluation, check_finite, evaluate_pairs
from poser_interp.io import read_json
from poser_interp.pipeline.blind import aliases, anonymise_model, blind_prompts, scoring_order
from poser_interp.pipeline.folder import RunFolder, ScoreKey, files_by_model, variant_scores
from poser_interp.progress import progress_bar
from poser_interp.strategies.base import Detector, ModelScore, finalize_scores
from poser_interp.zoo.manifest import DEFAULT_ZOO, MANIFEST, ZooManifest, sha256_file


def run_strategy(detector: Detector, *, out: str | Path, benchmark_dir: str | Path, pairs: Sequence[ModelPair],
                 load_model: Callable[[str], Any], is_faker: Callable[[str], bool], seed: int = 0,
                 progress: bool = True) -> PairEvaluation:
    """Score every model of `pairs` on its benchmark files (reusing finished scores), then evaluate the pairs.

    Benchmark prompts come from `benchmark_dir / pair.valid_data` (Poser layout). Each model needing
    work is loaded once and scored on all its missing files; `scores.jsonl` is rewritten after each.
    The detector works blind (`pipeline.blind`): models in a seeded random order, each under an
    opaque alias with its name-bearing attributes replaced, prompts without `probs` or other models'
    data, and `finalize` over alias keys. A finished run does no model work: its metrics are
    recomputed from `scores.jsonl`.
    """
    benchmark_dir = Path(benchmark_dir)
    folder = RunFolder(out)
    folder.claim({"strategy": detector.name, "config": detector.config(),
                  "benchmark_dir": str(benchmark_dir.resolve()), "seed": seed})
    by_model = files_by_model(pairs)
    all_files = sorted({f for files in by_model.values() for f in files})
    prompts: dict[str, list[Scenario]] = {f: blind_prompts(load_benchmark(benchmark_dir / f)) for f in all_files}
    shas = {f: sha256_file(benchmark_dir / f) for f in all_files}
    stored = folder.read_scores()
    for (model, file), (sha, score) in stored.items():
        if file in shas and sha != shas[file]:
            raise PoserInputError(f"{folder.scores_path}: {model} was scored on another version of {file} "
                                  "(the benchmark file changed); pick another run folder")
    alias = aliases(list(by_model), seed)
    todo = {m: [f for f in by_model[m] if (m, f) not in stored] for m in scoring_order(list(by_model), seed)}
    todo = {m: files for m, files in todo.items() if files}
    with progress_bar(progress) as bar:
        task = bar.add_task(f"{detector.name}: scoring models", total=len(todo))
        for model_name, files in todo.items():
            bar.update(task, description=f"{detector.name}: {model_name}")
            model = anonymise_model(load_model(model_name), alias[model_name], model_name)
            for file in files:
                score = detector.score(model, prompts[file])
                if len(score) != len(prompts[file]):
                    raise ValueError(f"strategy {detector.name!r} returned {len(score)} scores for "
                                     f"{len(prompts[file])} prompts ({model_name} on {file})")
                check_finite(score, model_name, file)
                stored[(model_name, file)] = (shas[file], score)
                folder.write_scores(stored)
            del model
            bar.update(task, advance=1)
    needed = {(m, f): stored[(m, f)][1] for m, files in by_model.items() for f in files}
    needed, selection = blind_finalize(detector, needed, alias, all_files)  # label-free and name-free
    evaluation = evaluate_pairs(needed, pairs, is_faker, seed=seed)
    diagnostics = stratified_effects(needed, is_faker)
    variants = {name: evaluate_pairs(variant_scores(needed, name), pairs, is_faker, seed=seed).metrics()
                for name in getattr(detector, "variants", tuple)()}
    folder.write_results(evaluation, selection=selection, diagnostics=diagnostics, variants=variants)
    return evaluation


def blind_finalize(detector: Detector, scores: dict[ScoreKey, ModelScore], alias: dict[str, str],
                   files: Sequence[str]) -> tuple[dict[ScoreKey, ModelScore], dict[str, Any]]:
    """`finalize_scores` over opaque `(model alias, file alias)` keys in alias order, mapped back to names."""
    file_alias = {f: f"file-{i:02d}" for i, f in enumerate(sorted(files))}
    back = {(alias[m], file_alias[f]): (m, f) for m, f in scores}
    hidden = {key: scores[back[key]] for key in sorted(back)}
    finalized, selection = finalize_scores(detector, hidden)
    if set(finalized) != set(hidden):
        raise ValueError(f"strategy {detector.name!r}: finalize must return a score for every key it was given")
    return dict(sorted((back[key], score) for key, score in finalized.items())), selection


# Running a registered strategy on every pair of a zoo, into a run folder (cached, atomic).

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
    from poser_interp.data.personas import is_faker as persona_is_faker

    root = Path(zoo or DEFAULT_ZOO)
    if (root / MANIFEST).is_file() or not (root / "model_pairs.json").is_file():
        return root, ZooManifest.load(root).is_faker
    return root, persona_is_faker


# Which figures each strategy's run folder draws: figure name -> (module under poser_interp.figures, function).
RUN_FIGURES: dict[str, dict[str, tuple[str, str]]] = {
    "noise": {"figure5": ("noise", "figure5"), "figure11": ("noise", "figure11")},
    "steering": {"figure4": ("steering", "figure4")},
    "concepts": {"figure7": ("concepts", "figure7")},
    "decision-speed": {"figure8": ("decision_speed", "figure8")},
    "learning-speed": {"figure6": ("training", "figure6"), "figure12": ("training", "figure12")},
    "weight-noise": {"figure14": ("weight_noise", "weight_noise_figure")},
    "defection-probe": {"figure15": ("defection_probe", "defection_probe_figure")},
    "train-against-noise": {"figure1": ("training", "figure1"), "figure10": ("training", "figure10")},
}


def run_figures(strategy: str) -> dict[str, Callable[[Path], Any]]:
    """The paper figures each strategy's run folder draws (name -> pure function of the folder);
    figure modules are imported only when asked for (they pull in plotly)."""
    import importlib

    return {name: getattr(importlib.import_module(f"poser_interp.figures.{module}"), function)
            for name, (module, function) in RUN_FIGURES.get(strategy, {}).items()}


def write_run_figures(strategy: str, run_dir: Path) -> list[Path]:
    """Draw the strategy's figures into its run folder as self-contained HTML."""
    from poser_interp.figures import save_figure

    return [p for name, fn in run_figures(strategy).items() for p in save_figure(fn(run_dir), run_dir / name)]


def run_on_zoo(strategy: str, options: dict[str, Any], *, zoo: str | Path | None = None, out: str | Path | None = None,
               seed: int = 0, progress: bool = True, device: str = "cpu", dtype: str | None = None) -> RunResult:
    """Score every model of a zoo (or Poser-layout folder) with `strategy` on its benchmark files and
    evaluate all pairs; models are loaded on `device` in `dtype` (default float32)."""
    from poser_interp.strategies.base import get_detector
    from poser_interp.zoo.load import load_model, parse_dtype

    root, is_faker = zoo_source(zoo)
    parse_dtype(dtype)  # a bad dtype fails before any run folder is made
    detector = get_detector(strategy, **{k: v for k, v in options.items() if v is not None})
    out = Path(out) if out is not None else default_run_dir(strategy, detector.config(), root, seed, dtype)
    run_strategy(detector, out=out, benchmark_dir=root, pairs=load_model_pairs(root / "model_pairs.json"),
                 load_model=lambda name: load_model(name, root, device=device, dtype=dtype), is_faker=is_faker,
                 seed=seed, progress=progress)
    return RunResult(out, read_json(out / "metrics.json"))


def run_artefacts(zoo: str | Path, out: str | Path, *, seed: int = 0, progress: bool = True,
                  scores: dict[str, dict[str, float]] | None = None) -> dict[str, Any]:
    """The artefact baselines (`zoo/artefacts.py`) as a run folder like a strategy's (main = weight
    distance, the others as variants), so every results table shows them beside the strategies;
    `scores` reuses stored ones. Returns the metrics."""
    from poser_interp.zoo.artefacts import ARTEFACTS, artefact_scores

    manifest = ZooManifest.load(zoo)
    folder = RunFolder(out)
    folder.claim({"strategy": "artefacts", "config": {"artefacts": list(ARTEFACTS)},
                  "benchmark_dir": str(manifest.root.resolve()), "seed": seed})
    if folder.metrics_path.is_file():
        return read_json(folder.metrics_path)
    scores = scores if scores is not None else artefact_scores(manifest, progress=progress)
    pairs = load_model_pairs(manifest.root / "model_pairs.json")
    sizes = {f: len(load_benchmark(manifest.root / f)) for f in {p.valid_data for p in pairs}}

    def constant(name: str, file: str, artefact: str) -> ModelScore:
        n = sizes[file]
        return ModelScore(np.full(n, scores[name][artefact]), ["-"] * n,
                          {"variants": {a: [scores[name][a]] * n for a in ARTEFACTS[1:]}})

    per_key = {(m, f): constant(m, f, ARTEFACTS[0]) for m, files in files_by_model(pairs).items() for f in files}
    folder.write_scores({k: ("", s) for k, s in per_key.items()})
    evaluation = evaluate_pairs(per_key, pairs, manifest.is_faker, seed=seed)
    variants = {a: evaluate_pairs(variant_scores(per_key, a), pairs, manifest.is_faker, seed=seed).metrics()
                for a in ARTEFACTS[1:]}
    folder.write_results(evaluation, variants=variants)
    return read_json(folder.metrics_path)


def artefacts_on_zoo(*, zoo: str | Path | None = None, out: str | Path | None = None, seed: int = 0,
                     progress: bool = True) -> RunResult:
    """The training-artefact baselines of a zoo, in `runs/` beside the strategies' run folders."""
    from poser_interp.zoo.artefacts import ARTEFACTS

    manifest = ZooManifest.load(zoo or DEFAULT_ZOO)
    out = Path(out) if out is not None else default_run_dir("artefacts", {"artefacts": list(ARTEFACTS)}, manifest.root, seed)
    stored = (manifest.data.get("audit") or {}).get("artefacts")
    metrics = run_artefacts(manifest.root, out, seed=seed, progress=progress,
                            scores=stored if stored and set(stored) == set(manifest.model_names) else None)
    return RunResult(out, metrics)


def train_against_on_zoo(options: dict[str, Any], *, zoo: str | Path | None = None, out: str | Path | None = None,
                         seed: int = 0, progress: bool = True, workers: int | None = None) -> RunResult:
    """Train every zoo model against strategy 2 (both methods) and re-detect; see `train_against`.
    `workers`: processes treating models at once (default: two on two or more cores)."""
    from functools import partial

    from poser_interp.data.personas import model_persona
    from poser_interp.train_against import TrainAgainstConfig, run_train_against
    from poser_interp.workers import default_workers
    from poser_interp.zoo.load import load_model

    manifest = ZooManifest.load(zoo or DEFAULT_ZOO)
    try:
        config = TrainAgainstConfig(**{k: v for k, v in options.items() if v is not None})
    except TypeError as err:
        raise PoserInputError(f"train-against: bad options {sorted(options)} ({err})") from None
    out = Path(out) if out is not None else default_run_dir("train-against-noise", config.to_json(), manifest.root, seed)
    metrics = run_train_against(out=out, zoo_dir=manifest.root, pairs=load_model_pairs(manifest.root / "model_pairs.json"),
                                load_model=partial(load_model, zoo=manifest.root), is_faker=manifest.is_faker,
                                persona_of=lambda name: model_persona(name)[0], recipe=manifest.data["recipe"], config=config, seed=seed,
                                progress=progress, workers=default_workers() if workers is None else workers)
    return RunResult(out, metrics)
