"""Run folders: one strategy's config, per-model scores, pair decisions and metrics, resumable.

Per-model work is done once per (model, benchmark file) and kept in `scores.jsonl`, so re-running a
finished run does no model work and an interrupted one picks up where it stopped. Every file is
written atomically: each is complete or absent.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from poser_interp.data.poser import ModelPair, load_benchmark
from poser_interp.data.records import Scenario, load_json
from poser_interp.errors import PoserInputError
from poser_interp.evaluate import PairEvaluation, evaluate_pairs, round_floats, stratified_effects
from poser_interp.io import write_json_atomic, write_text_atomic
from poser_interp.progress import progress_bar  # noqa: F401  (public here: train_against uses it)
from poser_interp.strategies.base import Detector, ModelScore, finalize_scores

ScoreKey = tuple[str, str]  # (model name, benchmark file relative to the benchmark dir)


class RunFolder:
    """A run's folder: `config.json`, `scores.jsonl`, `decisions.jsonl`, `metrics.json`."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r})"

    @property
    def config_path(self) -> Path:
        return self.path / "config.json"

    @property
    def scores_path(self) -> Path:
        return self.path / "scores.jsonl"

    @property
    def decisions_path(self) -> Path:
        return self.path / "decisions.jsonl"

    @property
    def metrics_path(self) -> Path:
        return self.path / "metrics.json"

    def claim(self, config: dict[str, Any]) -> None:
        """Write `config.json`, or check an existing one is the same run (else ask for another folder)."""
        config = json.loads(json.dumps(config))  # compare as JSON sees it (tuples become lists)
        if self.path.exists() and not self.path.is_dir():
            raise PoserInputError(f"{self.path}: not a directory (pick another run folder)")
        if self.config_path.exists():
            existing = load_json(self.config_path)
            if existing != config:
                raise PoserInputError(f"{self.path} holds a run with another config ({_config_diff(existing, config)});"
                                      " pick another run folder")
            return
        write_json_atomic(self.config_path, config)

    def read_scores(self) -> dict[ScoreKey, tuple[str, ModelScore]]:
        """Finished (model, file) scores, each with the sha256 of the benchmark file it was computed on."""
        if not self.scores_path.exists():
            return {}
        out: dict[ScoreKey, tuple[str, ModelScore]] = {}
        for i, line in enumerate(self.scores_path.read_text(encoding="utf-8").splitlines(), start=1):
            where = f"{self.scores_path}, line {i}"
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise PoserInputError(f"{where}: not valid JSON ({err.msg})") from None
            if not isinstance(row, dict) or not all(isinstance(row.get(k), str) for k in ("model", "file", "sha256")):
                raise PoserInputError(f"{where}: expected an object with strings 'model', 'file', 'sha256'")
            out[(row["model"], row["file"])] = (row["sha256"], ModelScore.from_json(row.get("score"), where))
        return out

    def write_scores(self, scores: dict[ScoreKey, tuple[str, ModelScore]]) -> None:
        """Rewrite `scores.jsonl` atomically, one line per (model, file), sorted."""
        lines = [json.dumps({"model": model, "file": file, "sha256": sha, "score": score.to_json()}, sort_keys=True)
                 for (model, file), (sha, score) in sorted(scores.items())]
        write_text_atomic(self.scores_path, "".join(line + "\n" for line in lines))

    def write_results(self, evaluation: PairEvaluation, selection: dict[str, Any] | None = None,
                      diagnostics: dict[str, Any] | None = None, variants: dict[str, Any] | None = None) -> None:
        """`decisions.jsonl` (one line per pair, in pair order) and `metrics.json` (with the detector's
        label-free hyperparameter selection and the confidence-matched diagnostics)."""
        lines = [json.dumps(d.to_json(), sort_keys=True) for d in evaluation.decisions]
        write_text_atomic(self.decisions_path, "".join(line + "\n" for line in lines))
        write_json_atomic(self.metrics_path, evaluation.metrics()
                          | round_floats({"selection": selection or {}, "diagnostics": diagnostics or {},
                                         "variants": variants or {}}))


def variant_scores(scores: dict[ScoreKey, ModelScore], name: str) -> dict[ScoreKey, ModelScore]:
    """A control variant's evidence (e.g. a random direction), stored per prompt in
    `diagnostics["variants"][name]`, as scores the pair evaluator can judge on its own."""
    return {k: ModelScore(np.asarray(s.diagnostics["variants"][name], dtype=np.float64), s.greedy, {})
            for k, s in scores.items()}


def _config_diff(old: Any, new: Any) -> str:
    if isinstance(old, dict) and isinstance(new, dict):
        keys = sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))
        return "; ".join(f"{k}: {old.get(k)!r} there, {new.get(k)!r} now" for k in keys)
    return "unreadable config.json"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def files_by_model(pairs: Sequence[ModelPair]) -> dict[str, list[str]]:
    """Every model of the pairs (sorted) with the benchmark files it is compared on (sorted)."""
    files: dict[str, set[str]] = {}
    for pair in pairs:
        for model in pair.models:
            files.setdefault(model, set()).add(pair.valid_data)
    return {model: sorted(files[model]) for model in sorted(files)}


def run_strategy(detector: Detector, *, out: str | Path, benchmark_dir: str | Path, pairs: Sequence[ModelPair],
                 load_model: Callable[[str], Any], is_faker: Callable[[str], bool], seed: int = 0,
                 progress: bool = True) -> PairEvaluation:
    """Score every model of `pairs` on its benchmark files (reusing finished scores), then evaluate the pairs.

    Benchmark prompts come from `benchmark_dir / pair.valid_data` (Poser layout). Each model needing
    work is loaded once and scored on all its missing files; `scores.jsonl` is rewritten after each.
    """
    benchmark_dir = Path(benchmark_dir)
    folder = RunFolder(out)
    folder.claim({"strategy": detector.name, "config": detector.config(),
                  "benchmark_dir": str(benchmark_dir.resolve()), "seed": seed})
    by_model = files_by_model(pairs)
    all_files = sorted({f for files in by_model.values() for f in files})
    prompts: dict[str, list[Scenario]] = {f: load_benchmark(benchmark_dir / f) for f in all_files}
    shas = {f: _sha256(benchmark_dir / f) for f in all_files}
    stored = folder.read_scores()
    for (model, file), (sha, score) in stored.items():
        if file in shas and sha != shas[file]:
            raise PoserInputError(f"{folder.scores_path}: {model} was scored on another version of {file} "
                                  "(the benchmark file changed); pick another run folder")
    todo = {m: [f for f in files if (m, f) not in stored] for m, files in by_model.items()}
    todo = {m: files for m, files in todo.items() if files}
    with progress_bar(progress) as bar:
        task = bar.add_task(f"{detector.name}: scoring models", total=len(todo))
        for model_name, files in todo.items():
            bar.update(task, description=f"{detector.name}: {model_name}")
            model = load_model(model_name)
            for file in files:
                score = detector.score(model, prompts[file])
                if len(score) != len(prompts[file]):
                    raise ValueError(f"strategy {detector.name!r} returned {len(score)} scores for "
                                     f"{len(prompts[file])} prompts ({model_name} on {file})")
                stored[(model_name, file)] = (shas[file], score)
                folder.write_scores(stored)
            del model
            bar.update(task, advance=1)
    needed = {(m, f): stored[(m, f)][1] for m, files in by_model.items() for f in files}
    needed, selection = finalize_scores(detector, needed)  # label-free: is_faker is not passed
    evaluation = evaluate_pairs(needed, pairs, is_faker, seed=seed)
    diagnostics = stratified_effects(needed, is_faker)
    variants = {name: evaluate_pairs(variant_scores(needed, name), pairs, is_faker, seed=seed).metrics()
                for name in getattr(detector, "variants", tuple)()}
    folder.write_results(evaluation, selection=selection, diagnostics=diagnostics, variants=variants)
    return evaluation
