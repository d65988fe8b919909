"""The model-side confidence baseline: a less confident A-vs-B answer is read as faker evidence.

Unlike `poser_interp.data.confidence` (stored Poser `probs`), this reads the model's own clean
logits, so it runs on any model; every detector is reported beside it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from jaxtyping import Float, Int
from torch import Tensor

from poser_interp.data.records import Scenario
from poser_interp.errors import PoserInputError
from poser_interp.readout import ANSWER_TOKENS, answer_logits, answer_token_ids
from poser_interp.strategies.base import ModelScore, register


def answer_candidates(tokenizer: Any) -> tuple[list[str], Int[Tensor, " k"]]:
    """The answer tokens the model can give (`A`, `B`, and `error` where it is one token) and their ids."""
    ids = answer_token_ids(tokenizer)
    missing = [letter for letter in ("A", "B") if letter not in ids]
    if missing:
        raise PoserInputError(f"the model's tokenizer has no single token for {', '.join(missing)}")
    names = [t for t in ANSWER_TOKENS if t in ids]
    return names, torch.tensor([ids[t] for t in names], dtype=torch.long)


def letter_margin(logits: Float[Tensor, "n vocab"], a_id: int, b_id: int) -> Float[Tensor, " n"]:
    """|log P(A) - log P(B)|: the log-odds of the preferred letter over the other one."""
    return (logits[:, a_id] - logits[:, b_id]).abs()


def greedy_answers(logits: Float[Tensor, "n vocab"], names: list[str], ids: Int[Tensor, " k"]) -> list[str]:
    """The highest-logit answer token among `names` for each row."""
    return [names[i] for i in logits[:, ids].argmax(-1).tolist()]


@register("baseline")
@dataclass(frozen=True)
class ConfidenceBaseline:
    """Per prompt, minus the clean log-odds of the greedy letter over the other: low confidence = faker."""

    batch_size: int = 64
    name: ClassVar[str] = "baseline"

    def config(self) -> dict[str, Any]:
        """No hyperparameters (the batch size does not change results)."""
        return {}

    def score(self, model: Any, prompts: Sequence[Scenario]) -> ModelScore:
        if not prompts:
            return ModelScore(np.zeros(0), [], {"n_prompts": 0})
        names, ids = answer_candidates(model.tokenizer)
        logits = answer_logits(model, [p.prompt for p in prompts], batch_size=self.batch_size).float()
        margin = letter_margin(logits, int(ids[names.index("A")]), int(ids[names.index("B")]))
        greedy = greedy_answers(logits, names, ids)
        per_prompt = -margin.double().cpu().numpy()
        diagnostics = {
            "n_prompts": len(prompts),
            "mean_margin": float(margin.double().mean()),
            "greedy_counts": {name: greedy.count(name) for name in names},
        }
        return ModelScore(per_prompt, greedy, diagnostics)
