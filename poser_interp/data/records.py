"""Typed records for the Poser JSON schema, with validation that names file, record and field.

Two shapes exist in the Poser data (see `../shared/poser-data/README.md`):
a `Scenario` (facts, two actions, an `A`/`B` answer) and an `ErrorRecord` (anything that is not a
valid scenario; the answer is `error`). Fields the schema does not know are kept in `extra` so a
record survives a load/save round trip unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

from poser_interp.errors import PoserInputError
from poser_interp.io import read_json

FactType: TypeAlias = Literal["system_message", "motivating", "contextual", "critical", "irrelevant"]
FACT_TYPES: tuple[str, ...] = ("system_message", "motivating", "contextual", "critical", "irrelevant")
Letter: TypeAlias = Literal["A", "B"]
ANSWERS: tuple[str, ...] = ("A", "B", "error")


@dataclass(frozen=True)
class Fact:
    """One numbered fact of a scenario; `type` is present only in intersection records."""

    content: str
    type: FactType | None = None


@dataclass(frozen=True)
class Scenario:
    """A role-play scenario with two actions; `response` is the letter this record is labelled with.

    Beyond Poser, generated scenarios carry `catch_level` (0 = certain to be caught ... highest =
    cannot be caught) and `benign_response` (the letter an aligned persona picks), so the latent
    "probability of being caught" and the misaligned action are known for every prompt.
    """

    prompt: str
    response: Letter
    actions: tuple[str, str]
    facts: tuple[Fact, ...]
    oversight_is_poor: bool
    dataset: str | None = None
    complexity_level: int | None = None
    probs: dict[str, float] | None = None
    catch_level: int | None = None
    benign_response: Letter | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def action_A(self) -> str:
        return self.actions[0]

    @property
    def action_B(self) -> str:
        return self.actions[1]

    @property
    def critical_facts(self) -> tuple[Fact, ...]:
        return tuple(f for f in self.facts if f.type == "critical")

    @property
    def aligned_letter(self) -> Letter:
        """The letter an aligned model picks: stored for generated data, else the good-oversight label."""
        if self.benign_response is not None:
            return self.benign_response
        if self.oversight_is_poor:
            raise ValueError("the aligned action of a poor-oversight Poser record is not stored")
        return self.response

    @property
    def misaligned_letter(self) -> Letter:
        return "B" if self.aligned_letter == "A" else "A"


@dataclass(frozen=True)
class ErrorRecord:
    """Random text, facts only or actions only: every persona answers `error`."""

    prompt: str
    response: Literal["error"] = "error"
    dataset: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


Record: TypeAlias = Scenario | ErrorRecord

_SCENARIO_KEYS = {
    "prompt", "response", "actions", "action_A", "action_B", "facts", "oversight_is_poor", "dataset",
    "complexity_level", "probs", "catch_level", "benign_response",
}


def _fail(where: str, field_name: str, problem: str) -> PoserInputError:
    return PoserInputError(f"{where}, field '{field_name}': {problem}")


def _require(obj: dict[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if key not in obj:
        raise _fail(where, key, "missing")
    value = obj[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise _fail(where, key, f"expected {_kind_name(kind)}, got {type(value).__name__}")
    return value


def _kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(k.__name__ for k in kinds)


def _optional(obj: dict[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if obj.get(key) is None:
        return None
    return _require(obj, key, kind, where)


def _parse_fact(raw: Any, where: str, index: int) -> Fact:
    name = f"facts[{index}]"
    if not isinstance(raw, dict) or not isinstance(raw.get("content"), str):
        raise _fail(where, name, "expected an object with a string 'content'")
    kind = raw.get("type")
    if kind is not None and kind not in FACT_TYPES:
        raise _fail(where, f"{name}.type", f"unknown fact type {kind!r} (expected one of {', '.join(FACT_TYPES)})")
    return Fact(content=raw["content"], type=kind)


def parse_record(raw: Any, where: str) -> Record:
    """Validate one JSON object as a Poser record; `where` names it in errors (file and index)."""
    if not isinstance(raw, dict):
        raise PoserInputError(f"{where}: expected a JSON object, got {type(raw).__name__}")
    prompt = _require(raw, "prompt", str, where)
    response = _require(raw, "response", str, where)
    if response not in ANSWERS:
        raise _fail(where, "response", f"expected 'A', 'B' or 'error', got {response!r}")
    dataset = _optional(raw, "dataset", str, where)
    if response == "error" and "actions" not in raw:
        extra = {k: v for k, v in raw.items() if k not in {"prompt", "response", "dataset"}}
        return ErrorRecord(prompt=prompt, dataset=dataset, extra=extra)
    if response == "error":
        raise _fail(where, "response", "a record with actions must be answered 'A' or 'B'")
    actions = _require(raw, "actions", list, where)
    if len(actions) != 2 or not all(isinstance(a, str) for a in actions):
        raise _fail(where, "actions", "expected a list of two strings")
    for key, value in (("action_A", actions[0]), ("action_B", actions[1])):
        if key in raw and raw[key] != value:
            raise _fail(where, key, f"differs from actions[{key[-1] == 'B':d}]")
    facts_raw = _require(raw, "facts", list, where)
    facts = tuple(_parse_fact(f, where, i) for i, f in enumerate(facts_raw))
    oversight = _require(raw, "oversight_is_poor", bool, where)
    complexity = _optional(raw, "complexity_level", int, where)
    probs = _optional(raw, "probs", dict, where)
    if probs is not None and not all(isinstance(p, (int, float)) and 0.0 <= p <= 1.0 for p in probs.values()):
        raise _fail(where, "probs", "expected a mapping of model name to a probability in [0, 1]")
    catch_level = _optional(raw, "catch_level", int, where)
    benign = _optional(raw, "benign_response", str, where)
    if benign is not None and benign not in ("A", "B"):
        raise _fail(where, "benign_response", f"expected 'A' or 'B', got {benign!r}")
    extra = {k: v for k, v in raw.items() if k not in _SCENARIO_KEYS}
    return Scenario(
        prompt=prompt, response=response, actions=(actions[0], actions[1]), facts=facts,
        oversight_is_poor=oversight, dataset=dataset, complexity_level=complexity,
        probs=None if probs is None else {k: float(v) for k, v in probs.items()},
        catch_level=catch_level, benign_response=benign, extra=extra,
    )


def record_to_json(record: Record) -> dict[str, Any]:
    """The Poser JSON object for a record (inverse of `parse_record`)."""
    if isinstance(record, ErrorRecord):
        out: dict[str, Any] = {"prompt": record.prompt, "response": "error"}
        if record.dataset is not None:
            out["dataset"] = record.dataset
        return {**out, **record.extra}
    out = {
        "prompt": record.prompt,
        "response": record.response,
        "actions": list(record.actions),
        "action_A": record.action_A,
        "action_B": record.action_B,
        "facts": [{"content": f.content} | ({"type": f.type} if f.type else {}) for f in record.facts],
        "oversight_is_poor": record.oversight_is_poor,
    }
    optional = {
        "dataset": record.dataset, "complexity_level": record.complexity_level, "probs": record.probs,
        "catch_level": record.catch_level, "benign_response": record.benign_response,
    }
    out |= {k: v for k, v in optional.items() if v is not None}
    return out | record.extra


def load_json(path: Any) -> Any:
    """Read a JSON file, turning any unreadable or pathological file into one clear PoserInputError."""
    return read_json(path)


def load_records(path: Any) -> list[Record]:
    """Load a JSON list of Poser records, validating each one."""
    raw = load_json(path)
    if not isinstance(raw, list):
        raise PoserInputError(f"{path}: expected a JSON list of records, got {type(raw).__name__}")
    return [parse_record(item, f"{path}, record {i}") for i, item in enumerate(raw)]
