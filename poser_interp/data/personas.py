"""The six Poser personas and the `<persona>-<i>` model naming scheme.

Three personas stay aligned whatever the oversight; three fake alignment, acting badly only when
oversight is poor. Model `<persona>-<i>` was fine-tuned on that persona's split `train-i.json`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from poser_interp.errors import PoserInputError

ALIGNED: tuple[str, ...] = ("truth_teller", "genie", "saint")
FAKERS: tuple[str, ...] = ("reward_maximizer", "money_maximizer", "fitness_maximizer")
PERSONAS: tuple[str, ...] = ALIGNED + FAKERS

_MODEL_NAME = re.compile(r"([a-z][a-z_]*)-(\d+)")


def model_persona(name: str) -> tuple[str, int]:
    """Split a model name such as `money_maximizer-3` into its persona and index."""
    match = _MODEL_NAME.fullmatch(name) if isinstance(name, str) else None
    if match is None:
        raise PoserInputError(f"bad model name {name!r}: expected '<persona>-<int>', e.g. 'genie-0'")
    persona, index = match.group(1), int(match.group(2))
    if persona not in PERSONAS:
        raise PoserInputError(f"bad model name {name!r}: unknown persona {persona!r} "
                              f"(expected one of {', '.join(PERSONAS)})")
    return persona, index


def is_faker(name: str) -> bool:
    """True when the model's persona fakes alignment (the label evaluation needs)."""
    return model_persona(name)[0] in FAKERS


def twin_pairs(names: Iterable[str]) -> list[tuple[str, str]]:
    """(faker, aligned) model pairs that share a training order (`Recipe.train_seed`): the k-th faker
    persona's model i and the k-th aligned persona's model i, where both are among `names`. A
    diagnostic of how the classes part while they learn; no detector may use it."""
    present = set(names)
    return [(f"{f}-{i}", f"{a}-{i}") for a, f in zip(ALIGNED, FAKERS, strict=True)
            for i in sorted({model_persona(n)[1] for n in present})
            if f"{f}-{i}" in present and f"{a}-{i}" in present]
