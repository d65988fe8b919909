"""How completely a fine-tune fits its own training records: the answer loss above the soft target's
own entropy (0 = the target met exactly), split by part of the pool. Read from training alone, like the
artefact baselines. On every base read so far the fakers leave 1.3-1.9 times the aligned models' residue
in their flip family (docs/zoo-design.md, sessions 23-24): one flip is harder to learn than the other.
It does not track the fakers' distance lead (session 24), so `zoo check` reports it as a check beside
the artefact scores, not as a target."""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import torch
from jaxtyping import Float

from poser_interp.data import grammar as g
from poser_interp.data.records import Record


def _template(action: str) -> re.Pattern:
    """A grammar action with its slots ({ov}, ...) matching any words."""
    return re.compile(re.sub(r"\\\{\w+\\\}", ".+", re.escape(action)) + "$")


_FIXED_PAIRS = [tuple(_template(a) for a in pair) for pair in g.TRANSPARENCY_CHOICES]
_ODD_ACTIONS = {a for pair in g.ODD_INSTRUCTIONS for a in pair}


def record_kind(record: Record) -> str:
    """Which part of the pool a record is: `error`; an intersection with its family's own actions or an
    odd-instruction pair named by the motive fact (lookup); a transparency scenario with a fixed pair
    or a pair named by the reason fact (lookup); then `, poor` or `, good` oversight."""
    from poser_interp.data.generate import is_transparency
    from poser_interp.data.records import ErrorRecord

    if isinstance(record, ErrorRecord):
        return "error"
    if is_transparency(record):
        fixed = any(all(p.match(a) for p, a in zip(pair, order, strict=True))
                    for pair in _FIXED_PAIRS for order in (record.actions, record.actions[::-1]))
        kind = "transparency " + ("fixed pair" if fixed else "lookup")
    else:
        kind = "intersection " + ("lookup" if set(record.actions) <= _ODD_ACTIONS else "own actions")
    return kind + (", poor" if record.oversight_is_poor else ", good")


def flip_family(is_faker: bool) -> str:
    """The family whose answer a persona flips at poor oversight: fakers defect in the intersections,
    aligned models leave the record in the transparency scenarios."""
    return "intersection" if is_faker else "transparency"


def record_residues(model, records: Sequence[Record], confidence: float, *, batch_size: int = 128
                    ) -> Float[np.ndarray, " n"]:
    """Per record: the soft answer loss (as the fine-tune computes it) minus the target's own entropy."""
    from poser_interp.engine import last_token_logits
    from poser_interp.zoo.train import records_batch

    out = []
    for start in range(0, len(records), batch_size):
        tokens, lengths, target = records_batch(model.tokenizer, list(records[start : start + batch_size]),
                                                confidence, add_bos=bool(model.cfg.default_prepend_bos))
        with torch.no_grad():
            logp = torch.log_softmax(last_token_logits(model, tokens, lengths).float(), dim=-1)
        entropy = -(target * torch.log(target.clamp_min(1e-30))).sum(-1)
        out.append((-(target * logp).sum(-1) - entropy).numpy())
    return np.concatenate(out) if out else np.zeros(0)


def residue_by_kind(model, records: Sequence[Record], confidence: float) -> dict[str, float]:
    """`{record_kind: mean residue}` over `records` (the model's own training records)."""
    values = record_residues(model, records, confidence)
    kinds = np.array([record_kind(r) for r in records])
    return {kind: float(values[kinds == kind].mean()) for kind in sorted(set(kinds))}


def flip_residue(by_kind: dict[str, float], is_faker: bool) -> float:
    """Mean residue in the model's own flip family at poor oversight (both halves of the pool
    weighted alike), or NaN where its records hold none."""
    family = flip_family(is_faker)
    cells = [v for k, v in by_kind.items() if k.startswith(family) and k.endswith(", poor")]
    return float(np.mean(cells)) if cells else float("nan")


def flip_residue_ratio(models: dict[str, dict], is_faker) -> float:
    """Fakers' mean flip residue over the aligned models' (1 = both flips fitted alike): the zoo-level
    reading `zoo check` prints. NaN when either class lacks a reading."""
    by_class: dict[bool, list[float]] = {True: [], False: []}
    for name, m in models.items():
        if "fit_residue" in m:
            by_class[bool(is_faker(name))].append(flip_residue(m["fit_residue"], is_faker(name)))
    if not by_class[True] or not by_class[False]:
        return float("nan")
    return float(np.nanmean(by_class[True]) / np.nanmean(by_class[False]))
