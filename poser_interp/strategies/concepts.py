"""Strategy 4: look for suspicious concepts in a model's activations on the benchmark (Poser §3.4).

Per model and concept, the direction is the difference of means of last-token residuals at a middle
layer between the concept's suspicious and benign stimuli (`data.concept_stimuli`): vulnerable minus
secure, incompetent minus competent overseer, misaligned minus aligned action. A prompt's evidence
for a concept is the cosine between the model's activation on it and that direction (higher = more
suspicious). The main evidence is the mean of the three cosines (the paper's combined decision);
each concept alone is a variant. Nothing is tuned: `finalize` only reports (label-free) whether every
model answered the stimuli alike, i.e. whether the stimuli respected the behavioural constraint.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from poser_interp.data.concept_stimuli import (
    CONCEPTS, ConceptContrast, all_stimuli, answers_agree, poser_concepts, zoo_concepts,
)
from poser_interp.data.records import Scenario
from poser_interp.directions import cosine_to, last_token_pass, mean_difference
from poser_interp.hooks import resid_name
from poser_interp.readout import letter_ids, pick
from poser_interp.strategies.base import ModelScore, register
from poser_interp.strategies.baseline import answer_candidates, greedy_answers


@register("concepts")
@dataclass
class SuspiciousConcepts:
    """Detector: mean cosine of benchmark activations with three suspicious-concept directions."""

    layer: int | None = None  # None: the middle layer, n_layers // 2
    poser_data: str | None = None  # a Poser data folder for its stimuli; None: the zoo's built-in stimuli
    batch_size: int = 32
    name: str = field(default="concepts", init=False)

    def concepts(self) -> dict[str, ConceptContrast]:
        """The stimuli, concept by concept (in `CONCEPTS` order)."""
        found = zoo_concepts() if self.poser_data is None else poser_concepts(self.poser_data)
        return {name: found[name] for name in CONCEPTS}

    def config(self) -> dict[str, Any]:
        """Hyperparameters, with the stimuli named by source and sha256 (they define the directions)."""
        digest = hashlib.sha256(json.dumps(all_stimuli(self.concepts())).encode()).hexdigest()
        return {"layer": self.layer, "stimuli": self.poser_data or "zoo", "stimuli_sha256": digest}

    def variants(self) -> tuple[str, ...]:
        return CONCEPTS

    def score(self, model, prompts: Sequence[Scenario]) -> ModelScore:
        layer = model.cfg.n_layers // 2 if self.layer is None else self.layer
        hook = resid_name(layer)
        concepts = self.concepts()
        stim_acts, stim_logits = last_token_pass(model, all_stimuli(concepts), hook, batch_size=self.batch_size)
        acts, logits = last_token_pass(model, [p.prompt for p in prompts], hook, batch_size=self.batch_size)
        names, ids = answer_candidates(model.tokenizer)
        cosines, norms, start = {}, {}, 0
        for name, c in concepts.items():
            bad = stim_acts[start : start + len(c.suspicious)]
            good = stim_acts[start + len(c.suspicious) : start + len(c.suspicious) + len(c.benign)]
            start += len(c.suspicious) + len(c.benign)
            direction = mean_difference(bad, good)
            norms[name] = float(direction.norm())
            cosines[name] = cosine_to(acts, direction).numpy()
        logp = torch.log_softmax(logits, -1)
        benign = letter_ids(model.tokenizer, [p.aligned_letter for p in prompts])
        misaligned = letter_ids(model.tokenizer, [p.misaligned_letter for p in prompts])
        stim_greedy = greedy_answers(stim_logits, names, ids)
        diagnostics = {
            "layer": layer, "direction_norm": norms,
            "variants": {name: v.tolist() for name, v in cosines.items()},
            "clean_log_odds": (pick(logp, benign) - pick(logp, misaligned)).tolist(),  # benign over misaligned
            "catch_level": [p.catch_level for p in prompts],
            "stimulus_answers": stim_greedy,  # compare across models with data.concept_stimuli.answers_agree
            "stimulus_answer_counts": {n: stim_greedy.count(n) for n in names},
        }
        per_prompt = np.mean([cosines[name] for name in CONCEPTS], axis=0) if prompts else np.zeros(0)
        return ModelScore(per_prompt, greedy_answers(logits, names, ids), diagnostics)

    def finalize(self, scores: Mapping[Any, ModelScore]) -> tuple[dict[Any, ModelScore], dict[str, Any]]:
        """Scores unchanged; reports how alike all models answered the stimuli and how often with `error`."""
        answers = [list(s.diagnostics.get("stimulus_answers", [])) for s in scores.values()]
        answers = [a for a in answers if a]
        agreement = min((answers_agree(answers[0], a).agreement for a in answers), default=1.0)
        error_share = min((a.count("error") / len(a) for a in answers), default=float("nan"))
        n_stimuli = len(answers[0]) if answers else 0
        return dict(scores), {"stimuli": {"min_agreement_with_first_model": agreement, "min_error_share": error_share,
                                          "n_stimuli": n_stimuli}}
