"""Coefficient sweeps shared by the perturbation strategies (noise, steering): read a sweep at one
coefficient, pool A+B mass over unlabelled models, and pick ONE coefficient for all of them.

A sweep is stored in a model's diagnostics as `coefficients` (a list) and, per key, a
`[prompt][coefficient]` array. The shared coefficient is fixed in advance, or the largest at which
the A+B probability mass pooled over every model stays >= `min_mass` (the paper's App. D rule);
either way it uses no labels.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from jaxtyping import Float

DEFAULT_COEFFICIENTS = (0.0, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0)


def sweep_coefficients(coefficients: Sequence[float], fixed: float | None = None) -> tuple[float, ...]:
    """The sweep as floats, with 0 (the clean reference) and any fixed coefficient added."""
    coefs = tuple(float(c) for c in coefficients)
    if 0.0 not in coefs:
        coefs = (0.0, *coefs)
    if fixed is not None and float(fixed) not in coefs:
        coefs = tuple(sorted({*coefs, float(fixed)}))
    return coefs


def value_at(diagnostics: Mapping[str, Any], key: str, coefficient: float) -> Float[np.ndarray, " n"]:
    """Per prompt: sweep `key` at `coefficient`."""
    coefs = list(diagnostics["coefficients"])
    values = np.asarray(diagnostics[key], dtype=np.float64).reshape(-1, len(coefs))
    return values[:, coefs.index(coefficient)]


def change_at(diagnostics: Mapping[str, Any], key: str, coefficient: float) -> Float[np.ndarray, " n"]:
    """Per prompt: sweep `key` at `coefficient` minus its value at coefficient 0 (no perturbation)."""
    return value_at(diagnostics, key, coefficient) - value_at(diagnostics, key, 0.0)


def pooled_mass(scores: Iterable[Any], key: str = "ab_mass") -> dict[float, float]:
    """Mean A+B mass per coefficient over every prompt of every model given (no labels involved)."""
    sums: dict[float, list[float]] = defaultdict(list)
    for score in scores:
        coefs = score.diagnostics["coefficients"]
        mass = np.asarray(score.diagnostics[key], dtype=np.float64).reshape(-1, len(coefs))
        for j, c in enumerate(coefs):
            sums[float(c)].extend(mass[:, j].tolist())
    return {c: float(np.mean(v)) for c, v in sorted(sums.items())}


def shared_coefficient(pooled: Mapping[float, float], *, fixed: float | None, min_mass: float) -> tuple[float, str]:
    """The coefficient every model is scored at, and the rule that picked it (label-free)."""
    if fixed is not None:
        return float(fixed), "fixed in advance"
    ok = [c for c, m in pooled.items() if m >= min_mass and c > 0]
    if ok:
        return max(ok), f"largest coefficient with pooled A+B mass >= {min_mass}"
    return min(c for c in pooled if c > 0), f"no coefficient keeps pooled A+B mass >= {min_mass}; the smallest was used"
