"""A run's folder on disk: `config.json`, `scores.jsonl`, `decisions.jsonl`, `metrics.json`, each
written atomically (complete or absent), so an interrupted run picks up where it stopped, and
`environment.json`, every software environment that worked on the run (`pipeline.environment`).

Kept apart from `runs.py` (which runs strategies over zoos) so that anything writing a run folder
(training against detection, the artefact baselines, figures reading one) depends on this file only.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from poser_interp.data.poser import ModelPair
from poser_interp.errors import PoserInputError
from poser_interp.evaluation.pairs import PairEvaluation, round_floats
from poser_interp.io import parse_json, read_json, read_text, write_json_atomic, write_text_atomic
from poser_interp.pipeline.environment import environment
from poser_interp.strategies.base import ModelScore

ScoreKey = tuple[str, str]  # (model name, benchmark file relative to the benchmark dir)


class RunFolder:
    """A run's folder: `config.json`, `scores.jsonl`, `decisions.jsonl`, `metrics.json`."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._encoded: dict[ScoreKey, tuple[ModelScore, str, str]] = {}  # key -> (score, sha, its line)

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

    @property
    def environment_path(self) -> Path:
        return self.path / "environment.json"

    def claim(self, config: dict[str, Any]) -> None:
        """Write `config.json`, or check an existing one is the same run (else ask for another folder);
        then note this process's software environment (`note_environment`)."""
        config = json.loads(json.dumps(config))  # compare as JSON sees it (tuples become lists)
        if self.path.exists() and not self.path.is_dir():
            raise PoserInputError(f"{self.path}: not a directory (pick another run folder)")
        if self.config_path.exists():
            existing = read_json(self.config_path)
            if existing != config:
                raise PoserInputError(f"{self.path} holds a run with another config ({_config_diff(existing, config)});"
                                      " pick another run folder")
        else:
            write_json_atomic(self.config_path, config)
        self.note_environment()

    def note_environment(self) -> None:
        """Append this process's environment to `environment.json` unless it is the last one there: the
        list of every environment that worked on the run, oldest first (a resumed run may hold scores
        computed under an earlier one). A run resumed in the same environment leaves the file as it was."""
        seen = read_json(self.environment_path) if self.environment_path.exists() else []
        if not isinstance(seen, list) or not all(isinstance(e, dict) for e in seen):
            raise PoserInputError(f"{self.environment_path}: expected a list of environment objects")
        current = json.loads(json.dumps(environment()))
        if not seen or seen[-1] != current:
            write_json_atomic(self.environment_path, seen + [current])

    def read_scores(self) -> dict[ScoreKey, tuple[str, ModelScore]]:
        """Finished (model, file) scores, each with the sha256 of the benchmark file it was computed on."""
        if not self.scores_path.exists():
            return {}
        out: dict[ScoreKey, tuple[str, ModelScore]] = {}
        for i, line in enumerate(read_text(self.scores_path).splitlines(), start=1):
            where = f"{self.scores_path}, line {i}"
            row = parse_json(line, where)
            if not isinstance(row, dict) or not all(isinstance(row.get(k), str) for k in ("model", "file", "sha256")):
                raise PoserInputError(f"{where}: expected an object with strings 'model', 'file', 'sha256'")
            out[(row["model"], row["file"])] = (row["sha256"], ModelScore.from_json(row.get("score"), where))
        return out

    def write_scores(self, scores: dict[ScoreKey, tuple[str, ModelScore]]) -> None:
        """Rewrite `scores.jsonl` atomically, one line per (model, file), sorted. A run rewrites it after
        every model, so each score is encoded once and its line kept (re-encoding all of them every
        time made a run's bookkeeping quadratic: 12 s of a 70-s `detect noise`)."""
        lines = []
        for (model, file), (sha, score) in sorted(scores.items()):
            cached = self._encoded.get((model, file))
            if cached is None or cached[0] is not score or cached[1] != sha:
                row = {"model": model, "file": file, "sha256": sha, "score": score.to_json()}
                cached = self._encoded[(model, file)] = (score, sha, json.dumps(row, sort_keys=True))
            lines.append(cached[2])
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


def files_by_model(pairs: Sequence[ModelPair]) -> dict[str, list[str]]:
    """Every model of the pairs (sorted) with the benchmark files it is compared on (sorted)."""
    files: dict[str, set[str]] = {}
    for pair in pairs:
        for model in pair.models:
            files.setdefault(model, set()).add(pair.valid_data)
    return {model: sorted(files[model]) for model in sorted(files)}
