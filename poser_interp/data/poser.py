"""Readers for the original Poser data folder: benchmark, splits, policy definitions, concepts, pairs.

Each loader validates the whole file on load and raises PoserInputError naming the file, the record
index and the field, so a bad file fails at once and not deep inside a strategy. `PoserDataDir` finds
every file by its standard path relative to the repository root (see `../shared/poser-data/README.md`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from poser_interp.data.personas import ALIGNED, FAKERS, PERSONAS, model_persona
from poser_interp.data.records import ErrorRecord, Record, Scenario, load_json, load_records
from poser_interp.errors import PoserInputError

PathLike = str | os.PathLike[str]

BENCHMARK_GLOB = "data/benchmark/*_and_*.json"
SPLIT_PATH = "data/training/{persona}/test.json"
POLICY_PATH = "data/policy_definitions/{persona}/test.json"
CONCEPTS_DIR = "src/detection_strategies/concepts"
MODEL_PAIRS_PATH = "model_pairs.json"


def _load_list(path: PathLike, what: str) -> list[Any]:
    raw = load_json(path)
    if not isinstance(raw, list):
        raise PoserInputError(f"{path}: expected a JSON list of {what}, got {type(raw).__name__}")
    return raw


def _scenarios(path: PathLike, records: list[Record], what: str) -> list[Scenario]:
    """Reject error records where only scenarios belong."""
    for i, record in enumerate(records):
        if isinstance(record, ErrorRecord):
            raise PoserInputError(f"{path}, record {i}, field 'response': "
                                  f"{what} records must be scenarios answered 'A' or 'B', got 'error'")
    return [r for r in records if isinstance(r, Scenario)]


def _scenarios_where(path: PathLike, what: str, field: str, ok: Callable[[Scenario], bool], why: str) -> list[Scenario]:
    """Load scenarios and require `ok` of each; a failure names file, record and field."""
    scenarios = _scenarios(path, load_records(path), what)
    for i, scenario in enumerate(scenarios):
        if not ok(scenario):
            raise PoserInputError(f"{path}, record {i}, field '{field}': {why}")
    return scenarios


def load_benchmark(path: PathLike) -> list[Scenario]:
    """A benchmark file `data/benchmark/<a>_and_<b>.json`: scenarios that all carry per-model `probs`."""
    return _scenarios_where(path, "benchmark", "probs", lambda s: bool(s.probs),
                            "missing or empty (benchmark records carry each model's probability of the answer)")


def load_split(path: PathLike) -> list[Record]:
    """A training or test split `data/training/<persona>/*.json`: scenarios and error records."""
    return load_records(path)


def load_policy_definitions(path: PathLike) -> list[Scenario]:
    """`data/policy_definitions/<persona>/test.json`: poor-oversight scenarios, where policies differ."""
    return _scenarios_where(path, "policy-definition", "oversight_is_poor", lambda s: s.oversight_is_poor,
                            "policy definitions are poor-oversight scenarios, got false")


def load_concept_stimuli(path: PathLike) -> list[str]:
    """Concept-probe stimuli: a JSON list of `{"example": str}`; returns the example texts."""
    examples: list[str] = []
    for i, item in enumerate(_load_list(path, "concept stimuli")):
        if not isinstance(item, dict):
            raise PoserInputError(f"{path}, record {i}: expected a JSON object, got {type(item).__name__}")
        if not isinstance(item.get("example"), str):
            found = item.get("example")
            problem = "missing" if "example" not in item else f"expected str, got {type(found).__name__}"
            raise PoserInputError(f"{path}, record {i}, field 'example': {problem}")
        examples.append(item["example"])
    return examples


@dataclass(frozen=True)
class ModelPair:
    """One evaluation pair: an aligned model, an alignment faker, and the benchmark file to compare on."""

    aligned: str
    misaligned: str
    valid_data: str

    @property
    def models(self) -> tuple[str, str]:
        return (self.aligned, self.misaligned)


def load_model_pairs(path: PathLike) -> list[ModelPair]:
    """`model_pairs.json`: entries `{"aligned": "<persona>-<i>", "misaligned": ..., "valid_data": ...}`."""
    pairs: list[ModelPair] = []
    for i, item in enumerate(_load_list(path, "model pairs")):
        where = f"{path}, record {i}"
        if not isinstance(item, dict):
            raise PoserInputError(f"{where}: expected a JSON object, got {type(item).__name__}")
        values: dict[str, str] = {}
        for key in ("aligned", "misaligned", "valid_data"):
            if key not in item:
                raise PoserInputError(f"{where}, field '{key}': missing")
            if not isinstance(item[key], str) or not item[key]:
                raise PoserInputError(f"{where}, field '{key}': expected a non-empty string, got {item[key]!r}")
            values[key] = item[key]
        for key, allowed, kind in (("aligned", ALIGNED, "an aligned"), ("misaligned", FAKERS, "a faker")):
            try:
                persona, _ = model_persona(values[key])
            except PoserInputError as err:
                raise PoserInputError(f"{where}, field '{key}': {err}") from None
            if persona not in allowed:
                raise PoserInputError(f"{where}, field '{key}': {values[key]!r} is not {kind} persona "
                                      f"(expected one of {', '.join(allowed)})")
        pairs.append(ModelPair(**values))
    return pairs


class PoserDataDir:
    """A Poser repository root (e.g. `../shared/poser-data`): finds and loads its files by standard path."""

    def __init__(self, root: PathLike) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            problem = "not a directory" if self.root.exists() else "directory not found"
            raise PoserInputError(f"{self.root}: {problem} (expected a Poser data folder)")

    def __repr__(self) -> str:
        return f"PoserDataDir({str(self.root)!r})"

    def path(self, relative: str) -> Path:
        """A path inside the folder; `relative` comes from the data (e.g. a pair's `valid_data`)."""
        return self.root / relative

    @property
    def model_pairs_path(self) -> Path:
        return self.root / MODEL_PAIRS_PATH

    def benchmark_paths(self) -> list[Path]:
        return sorted(self.root.glob(BENCHMARK_GLOB))

    def split_path(self, persona: str) -> Path:
        return self.root / SPLIT_PATH.format(persona=_check_persona(persona))

    def policy_path(self, persona: str) -> Path:
        return self.root / POLICY_PATH.format(persona=_check_persona(persona))

    def concept_paths(self, *, include_old: bool = False) -> list[Path]:
        """Concept stimuli files; the unused earlier concepts in `old/` only when asked."""
        folder = self.root / CONCEPTS_DIR
        return sorted(folder.glob("*.json")) + (sorted(folder.glob("old/*.json")) if include_old else [])

    def model_pairs(self) -> list[ModelPair]:
        return load_model_pairs(self.model_pairs_path)

    def benchmark(self) -> dict[str, list[Scenario]]:
        """Every benchmark file, keyed by its stem (e.g. `genie_and_money`)."""
        return {p.stem: load_benchmark(p) for p in self.benchmark_paths()}

    def split(self, persona: str) -> list[Record]:
        return load_split(self.split_path(persona))

    def policy_definitions(self, persona: str) -> list[Scenario]:
        return load_policy_definitions(self.policy_path(persona))

    def concepts(self, *, include_old: bool = False) -> dict[str, list[str]]:
        """Concept stimuli keyed by name (e.g. `security`, `truth_and_money_misaligned`, `old/harm`)."""
        folder = self.root / CONCEPTS_DIR
        return {p.relative_to(folder).with_suffix("").as_posix(): load_concept_stimuli(p)
                for p in self.concept_paths(include_old=include_old)}


def _check_persona(persona: str) -> str:
    if persona not in PERSONAS:
        raise PoserInputError(f"unknown persona {persona!r} (expected one of {', '.join(PERSONAS)})")
    return persona
