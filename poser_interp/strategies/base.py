"""What every detection strategy returns and the registry the CLI picks strategies from by name.

A strategy scores ONE model at a time and never sees labels: it returns per-prompt faker evidence
(higher = more faker-like) and the model's greedy answers; only the evaluator pairs models up.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np
from jaxtyping import Float

from poser_interp.data.records import Scenario
from poser_interp.errors import PoserInputError

# Modules that register built-in strategies when imported (kept lazy: most import torch).
BUILTIN_MODULES: tuple[str, ...] = ("poser_interp.strategies.baseline", "poser_interp.strategies.noise",
                                    "poser_interp.strategies.decision_speed", "poser_interp.strategies.attention",
                                    "poser_interp.strategies.steering", "poser_interp.strategies.concepts",
                                    "poser_interp.strategies.learning_speed", "poser_interp.strategies.weight_noise",
                                    "poser_interp.strategies.defection_probe")


@dataclass(frozen=True, eq=False)
class ModelScore:
    """One model's faker evidence per benchmark prompt, its greedy answer per prompt, and diagnostics."""

    per_prompt: Float[np.ndarray, " n"]
    greedy: list[str]
    diagnostics: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        values = np.asarray(self.per_prompt, dtype=np.float64)
        if values.ndim != 1:
            raise ValueError(f"ModelScore.per_prompt must be 1-D, got shape {values.shape}")
        if len(self.greedy) != values.shape[0]:
            raise ValueError(f"ModelScore has {values.shape[0]} scores but {len(self.greedy)} greedy answers")
        values.flags.writeable = False
        object.__setattr__(self, "per_prompt", values)
        object.__setattr__(self, "greedy", [str(g) for g in self.greedy])

    def __len__(self) -> int:
        return len(self.greedy)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ModelScore):
            return NotImplemented
        return (np.array_equal(self.per_prompt, other.per_prompt, equal_nan=True)
                and self.greedy == other.greedy and self.diagnostics == other.diagnostics)

    def to_json(self) -> dict[str, Any]:
        """A JSON object; floats are written in full, so `from_json` gives back the same scores."""
        return {"per_prompt": [float(x) for x in self.per_prompt], "greedy": list(self.greedy),
                "diagnostics": self.diagnostics}

    @classmethod
    def from_json(cls, obj: Any, where: str = "model score") -> ModelScore:
        """Inverse of `to_json`; `where` names the source in the one-line error on a malformed object."""
        if not isinstance(obj, dict) or not isinstance(obj.get("per_prompt"), list) \
                or not isinstance(obj.get("greedy"), list) or not isinstance(obj.get("diagnostics", {}), dict):
            raise PoserInputError(f"{where}: expected an object with lists 'per_prompt', 'greedy' "
                                  "and an object 'diagnostics'")
        try:
            return cls(np.asarray(obj["per_prompt"], dtype=np.float64), list(obj["greedy"]),
                       dict(obj.get("diagnostics", {})))
        except (TypeError, ValueError) as err:
            raise PoserInputError(f"{where}: {err}") from None


@runtime_checkable
class Detector(Protocol):
    """A detection strategy: scores one model on benchmark prompts, with JSON-able hyperparameters."""

    name: str

    def config(self) -> dict[str, Any]: ...

    def score(self, model: Any, prompts: Sequence[Scenario]) -> ModelScore: ...


def finalize_scores(detector: Detector, scores: dict[Any, ModelScore]) -> tuple[dict[Any, ModelScore], dict[str, Any]]:
    """Apply a detector's optional label-free `finalize(scores)` step (e.g. picking one coefficient
    shared by all models from pooled unlabelled statistics); identity for detectors without one."""
    finalize = getattr(detector, "finalize", None)
    if finalize is None:
        return dict(scores), {}
    return finalize(scores)


STRATEGIES: dict[str, Callable[..., Detector]] = {}


def register(name: str) -> Callable[[Callable[..., Detector]], Callable[..., Detector]]:
    """Class decorator: make a detector available to `get_detector(name)`."""
    def add(factory: Callable[..., Detector]) -> Callable[..., Detector]:
        if name in STRATEGIES and STRATEGIES[name] is not factory:
            raise ValueError(f"strategy {name!r} is already registered")
        STRATEGIES[name] = factory
        return factory
    return add


def load_builtin_strategies() -> None:
    """Import the built-in strategy modules so they register themselves."""
    for module in BUILTIN_MODULES:
        importlib.import_module(module)


def get_detector(name: str, **options: Any) -> Detector:
    """The registered detector `name`, built with `options`; an unknown name lists the known ones."""
    load_builtin_strategies()
    if name not in STRATEGIES:
        raise PoserInputError(f"unknown strategy {name!r} (known: {', '.join(sorted(STRATEGIES))})")
    try:
        return STRATEGIES[name](**options)
    except TypeError as err:
        raise PoserInputError(f"strategy {name!r}: bad options {sorted(options)} ({err})") from None
