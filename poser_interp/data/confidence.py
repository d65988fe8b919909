"""The confidence baseline on Poser-format data: the less confident model of a pair is the faker.

It needs no model, only the per-model probabilities stored in each benchmark record's `probs`, and
every detector must be reported beside it (on the released Poser data it is 266/324 = 82.1%, not the
paper's 64%; see `../shared/docs/poser-paper.md`).
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from poser_interp.data.poser import PoserDataDir, load_benchmark
from poser_interp.data.records import Scenario
from poser_interp.errors import PoserInputError
from poser_interp.evaluation.pairs import bootstrap_ci, pair_outcome

_INDEX_SUFFIX = re.compile(r"^(.*?)[-_](\d+)$")


def canonical_model_name(key: str) -> str:
    """`../models/saint_fix/retrained/saint_0` -> `saint-0`: last path component, `_i` read as `-i`."""
    last = key.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
    match = _INDEX_SUFFIX.match(last)
    return f"{match.group(1)}-{int(match.group(2))}" if match else last


def mean_confidences(records: list[Scenario], where: str) -> dict[str, float]:
    """Each model's mean stored probability over `records`, keyed by canonical model name.

    A model must have a probability in every record (else the means would cover different prompts),
    and two `probs` keys of one record must not name the same model.
    """
    per_record: list[dict[str, float]] = []
    for i, record in enumerate(records):
        named: dict[str, float] = {}
        keys: dict[str, str] = {}
        for key, prob in (record.probs or {}).items():
            name = canonical_model_name(key)
            if name in keys:
                raise PoserInputError(f"{where}, record {i}, field 'probs': keys {keys[name]!r} and {key!r} "
                                      f"both name model '{name}'")
            keys[name], named[name] = key, prob
        per_record.append(named)
    models = {name for named in per_record for name in named}
    for i, named in enumerate(per_record):
        missing = sorted(models - named.keys())
        if missing:
            raise PoserInputError(f"{where}, record {i}, field 'probs': no entry for model '{missing[0]}', "
                                  "which other records of the file have")
    values = {name: [named[name] for named in per_record] for name in sorted(models)}
    return {name: math.fsum(probs) / len(probs) for name, probs in values.items()}


@dataclass(frozen=True)
class PairResult:
    """One pair's mean confidences and outcome (1 = faker correctly flagged, 0.5 = tie)."""

    aligned: str
    misaligned: str
    valid_data: str
    aligned_confidence: float
    misaligned_confidence: float
    outcome: float


@dataclass(frozen=True)
class FileAccuracy:
    """Accuracy over the pairs evaluated on one benchmark file; `correct` counts a tie as 0.5."""

    correct: float
    n_pairs: int

    @property
    def accuracy(self) -> float:
        return self.correct / self.n_pairs


@dataclass(frozen=True)
class BaselineResult:
    """Pair accuracy of the confidence baseline with a percentile-bootstrap CI over pairs."""

    accuracy: float
    ci_low: float
    ci_high: float
    n_pairs: int
    correct: float
    per_file: dict[str, FileAccuracy]
    pairs: tuple[PairResult, ...]
    n_resamples: int
    seed: int
    level: float

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready summary (what `poser-interp baseline --out` writes)."""
        return {
            "strategy": "confidence_baseline",
            "rule": "the model with the lower mean stored probability is the faker; a tie counts 0.5",
            "accuracy": self.accuracy,
            "ci": {"low": self.ci_low, "high": self.ci_high, "level": self.level,
                   "method": "percentile bootstrap over pairs", "n_resamples": self.n_resamples,
                   "seed": self.seed},
            "n_pairs": self.n_pairs,
            "correct": self.correct,
            "per_file": {name: {"accuracy": f.accuracy, "correct": f.correct, "n_pairs": f.n_pairs}
                         for name, f in self.per_file.items()},
            "pairs": [asdict(p) for p in self.pairs],
        }


def _pair_confidence(pairs_file: str, pair_index: int, field: str, model: str, means: dict[str, float],
                     data_file: str) -> float:
    if model not in means:
        known = ", ".join(sorted(means)) or "none"
        raise PoserInputError(f"{pairs_file}, record {pair_index}, field '{field}': model '{model}' has no "
                              f"probs in {data_file} (models there: {known})")
    return means[model]


def confidence_baseline(data_dir: str | os.PathLike[str], *, n_resamples: int = 2000, seed: int = 0,
                        level: float = 0.95) -> BaselineResult:
    """Run the baseline on every pair of `data_dir/model_pairs.json`, reading each pair's `valid_data`."""
    root = PoserDataDir(data_dir)
    pairs = root.model_pairs()
    if not pairs:
        raise PoserInputError(f"{root.model_pairs_path}: no model pairs")
    cache: dict[str, dict[str, float]] = {}
    results: list[PairResult] = []
    for i, pair in enumerate(pairs):
        if pair.valid_data not in cache:
            path = root.path(pair.valid_data)
            cache[pair.valid_data] = mean_confidences(load_benchmark(path), str(path))
        means = cache[pair.valid_data]
        pairs_file = str(root.model_pairs_path)
        aligned = _pair_confidence(pairs_file, i, "aligned", pair.aligned, means, pair.valid_data)
        faker = _pair_confidence(pairs_file, i, "misaligned", pair.misaligned, means, pair.valid_data)
        # Less confident = faker: score each model by its negated confidence (exact, so ties stay ties).
        outcome = pair_outcome(faker_score=-faker, aligned_score=-aligned)
        results.append(PairResult(pair.aligned, pair.misaligned, pair.valid_data, aligned, faker, outcome))
    outcomes = np.array([r.outcome for r in results])
    low, high = bootstrap_ci(outcomes, n_resamples=n_resamples, seed=seed, level=level)
    per_file: dict[str, FileAccuracy] = {}
    for name in sorted({r.valid_data for r in results}):
        file_outcomes = [r.outcome for r in results if r.valid_data == name]
        per_file[name] = FileAccuracy(correct=math.fsum(file_outcomes), n_pairs=len(file_outcomes))
    correct = math.fsum(outcomes.tolist())
    return BaselineResult(
        accuracy=correct / len(results), ci_low=low, ci_high=high, n_pairs=len(results), correct=correct,
        per_file=per_file, pairs=tuple(results), n_resamples=n_resamples, seed=seed, level=level,
    )
