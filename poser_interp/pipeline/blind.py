"""Blindness by construction: what the harness hands a strategy says nothing about which model it is.

A strategy sees (1) a model handle whose name-bearing attributes are replaced by an opaque alias,
(2) prompts without `probs` (every model's P(benign), by name), `dataset` or unknown extra fields,
(3) the models in a seeded random order, and (4) in `finalize`, scores keyed by opaque
`(alias, file alias)` pairs that only the harness maps back. Names stay on the harness side.

One channel is left by the benchmark's design, not the harness: a model is scored on the files of
its own pairs (an aligned model on `<its persona>_and_*`, a faker on `*_and_<its goal>`), so a
detector that compares prompt sets across models could tell the two groups apart; see
docs/results-notes.md ("Blindness").
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from poser_interp.data.records import Record

ANONYMOUS = "anonymous"
# Attributes that name a model or where it was loaded from, replaced whatever their value.
NAME_ATTRIBUTES = ("model_name", "tokenizer_name", "name_or_path", "_name_or_path", "name", "path")
# Prompt fields a strategy never sees: computed from other models (`probs`), or naming the file.
HIDDEN_PROMPT_FIELDS = ("probs", "dataset", "extra")


def scoring_order(models: Sequence[str], seed: int) -> list[str]:
    """The models in a seeded random order (not their names' order, which groups personas)."""
    perm = np.random.default_rng([seed, 0xB11D]).permutation(len(models))
    return [sorted(models)[i] for i in perm]


def aliases(models: Sequence[str], seed: int) -> dict[str, str]:
    """Model name -> `model-<k>`, k its place in `scoring_order`, so the alias carries nothing either."""
    return {name: f"model-{k:03d}" for k, name in enumerate(scoring_order(models, seed))}


def blind_prompts(prompts: Sequence[Record]) -> list[Record]:
    """The prompts without the fields in HIDDEN_PROMPT_FIELDS (the prompt text, actions, facts and
    letters stay: they are the same for every model)."""
    out = []
    for p in prompts:
        names = {f.name for f in dataclasses.fields(p)}
        empty = {"probs": None, "dataset": None, "extra": {}}
        out.append(dataclasses.replace(p, **{k: v for k, v in empty.items() if k in names}))
    return out


def anonymise_model(model: Any, alias: str, name: str) -> Any:
    """`model` itself (a HookedTransformer or a test's fake), with every name-bearing string replaced.

    Replaced: the attributes in NAME_ATTRIBUTES on the model, its `cfg` and its `tokenizer` (and the
    tokenizer's `init_kwargs`), and any other string attribute there (or dict value, for dict-like
    fakes) that contains `name` or the last part of a path `name`.
    """
    needles = {name, name.rstrip("/").rsplit("/", 1)[-1]} - {""}
    for holder in (model, getattr(model, "cfg", None), getattr(model, "tokenizer", None),
                   getattr(getattr(model, "tokenizer", None), "init_kwargs", None)):
        if holder is not None:
            _scrub(holder, alias, needles)
    return model


def _scrub(holder: Any, alias: str, needles: set[str]) -> None:
    items = holder if isinstance(holder, dict) else getattr(holder, "__dict__", {})
    for key, value in list(items.items()):
        if not isinstance(value, str):
            continue
        if key in NAME_ATTRIBUTES or any(n in value for n in needles):
            if isinstance(holder, dict):
                holder[key] = alias
            else:
                object.__setattr__(holder, key, alias)
