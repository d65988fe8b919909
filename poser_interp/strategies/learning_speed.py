"""Strategy 3: fine-tune each model to pick the misaligned action and measure how fast it learns (Poser §3.3).

Each benchmark file's prompts are split into folds by a seeded permutation that depends only on the
file (so both models of a pair get the same split, and never by model). For each fold, the model is
trained on the OTHER folds' prompts toward the misaligned letter and P(misaligned) is read on the
held-out fold after every step. The model is restored after each fold, so every prompt gets a
held-out learning curve.

Decision rule, fixed before any evaluation (the paper instead picked step 4 from ground truth): the
evidence for a prompt is the area under its held-out curve over the whole fixed budget, as the mean
over the evaluated steps (2, 4, .. `steps`) of the rise in P(misaligned) above step 0. Accuracy per step, which uses labels,
is only drawn post hoc (Figure 12).

Two variants: `adapter` (main; a rank-8 LoRA beside one middle MLP, `adapters.LowRankAdapter`) and
`full` (every weight). Constant learning rates, fixed in advance by a label-free rule on the zoo's
base model, which is in no pair (`benchmarks/learning_speed.py --calibrate`): per variant, the rate
from a 4-point grid whose pooled held-out P(misaligned) at the end of the 8-step budget is closest to
0.5, so curves neither stay flat nor saturate (measured: adapter 3e-2 -> 0.494, full 1e-4 -> 0.494).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from einops import repeat
from jaxtyping import Float, Int
from torch import Tensor

from poser_interp.adapters import StackedAdapters
from poser_interp.data.records import Scenario
from poser_interp.engine import last_logits_from, length_batches, pad_residuals, residuals_before
from poser_interp.finetune import (
    epoch_sampler, letter_batches, letter_probs, restored, run_training, soft_answer_loss,
)
from poser_interp.hooks import intervene
from poser_interp.readout import letter_ids
from poser_interp.strategies.base import ModelScore, register

VARIANTS = ("adapter", "full")


def fold_of(n: int, folds: int, seed: int) -> Int[Tensor, " n"]:
    """Each prompt's fold: a seeded permutation of the file's prompts dealt round-robin (model-independent)."""
    if folds < 2 or n < folds:
        raise ValueError(f"learning speed needs >= 2 folds and at least one prompt per fold, got {folds} folds, {n} prompts")
    fold = torch.empty(n, dtype=torch.long)
    fold[torch.randperm(n, generator=torch.Generator().manual_seed(seed))] = torch.arange(n) % folds
    return fold


def learning_curves(model, prompts: Sequence[Scenario], *, variant: str, steps: int, lr: float, folds: int,
                    batch_size: int, seed: int, layer: int, rank: int, eval_every: int = 1
                    ) -> Float[Tensor, "prompt checkpoint"]:
    """Held-out P(misaligned) per prompt at steps 0, `eval_every`, 2 * `eval_every`, ... `steps` of training
    toward the misaligned letter (evaluation dominates the cost, so it need not happen every step)."""
    if steps % eval_every:
        raise ValueError(f"steps ({steps}) must be a multiple of eval_every ({eval_every})")
    if variant == "adapter":
        return adapter_curves(model, prompts, steps=steps, lr=lr, folds=folds, batch_size=batch_size, seed=seed,
                              layer=layer, rank=rank, eval_every=eval_every)
    if variant != "full":
        raise ValueError(f"unknown learning-speed variant {variant!r} (expected one of {', '.join(VARIANTS)})")
    return per_fold_curves(model, prompts, steps=steps, lr=lr, folds=folds, batch_size=batch_size, seed=seed,
                           eval_every=eval_every, prepare=lambda k: ([], None))


def per_fold_curves(model, prompts: Sequence[Scenario], *, steps: int, lr: float, folds: int, batch_size: int,
                    seed: int, eval_every: int, prepare: Callable[[int], tuple[list, list | None]]
                    ) -> Float[Tensor, "prompt checkpoint"]:
    """Each fold trained alone on full forwards of the model (restored after each): `prepare(k)` gives
    fold k's hooks and the tensors to train (None: every weight)."""
    texts = [p.prompt for p in prompts]
    targets = [p.misaligned_letter for p in prompts]
    fold = fold_of(len(prompts), folds, seed)
    curves = torch.empty(len(prompts), steps // eval_every + 1)
    for k in range(folds):
        train = torch.nonzero(fold != k).squeeze(-1).tolist()
        test = torch.nonzero(fold == k).squeeze(-1).tolist()
        test_texts, test_targets = [texts[i] for i in test], [targets[i] for i in test]

        def record(step: int, _loss: float | None = None) -> None:
            if (step + 1) % eval_every == 0:
                curves[test, (step + 1) // eval_every] = letter_probs(model, test_texts, test_targets)

        batches = letter_batches(model, [texts[i] for i in train], [targets[i] for i in train],
                                 batch_size=batch_size, seed=seed + k)
        with restored(model):
            hooks, params = prepare(k)
            with intervene(model, hooks):
                record(-1)
                run_training(model, batches, soft_answer_loss, steps=steps, lr=lr, warmup=1, decay=False,
                             weight_decay=0.0, progress=False, on_step=record, params=params)
    return curves


def adapter_curves(model, prompts: Sequence[Scenario], *, steps: int, lr: float, folds: int, batch_size: int,
                   seed: int, layer: int, rank: int, eval_every: int = 1) -> Float[Tensor, "prompt checkpoint"]:
    """`learning_curves` for the adapter, every fold at once: one stack of adapters (fold k's trained on
    the other folds, read on fold k), the frozen blocks below the adapter run once per prompt, and each
    step trains every fold's batch in one forward and backward from the adapter's layer on."""
    texts = [p.prompt for p in prompts]
    target = letter_ids(model.tokenizer, [p.misaligned_letter for p in prompts])
    fold = fold_of(len(prompts), folds, seed)
    resids = residuals_before(model, texts, layer)
    train = [torch.nonzero(fold != k).squeeze(-1).tolist() for k in range(folds)]
    draws = [epoch_sampler(len(train[k]), batch_size=batch_size, seed=seed + k) for k in range(folds)]
    which = repeat(torch.arange(folds), "k -> (k n)", n=batch_size)
    stack = StackedAdapters(model.cfg.d_model, model.cfg.d_model, rank=rank, seeds=[seed + k for k in range(folds)])
    curves = torch.empty(len(prompts), steps // eval_every + 1)

    def log_p(rows: Sequence[int], adapters: Int[Tensor, " batch"]) -> Float[Tensor, " batch"]:
        resid, lengths = pad_residuals([resids[i] for i in rows])
        stack.which = adapters
        logp = torch.log_softmax(last_logits_from(model, resid, lengths, layer).float(), -1)
        return logp.gather(-1, target[list(rows), None]).squeeze(-1)

    def record(step: int, _loss: float | None = None) -> None:
        if (step + 1) % eval_every == 0:
            with torch.no_grad():
                for rows in length_batches(texts, 64):  # every prompt held out, with its own fold's adapter
                    curves[rows, (step + 1) // eval_every] = log_p(rows, fold[rows]).exp()

    def batch(step: int) -> list[int]:
        return [train[k][j] for k in range(folds) for j in draws[k]()]

    def loss(model, rows: list[int]) -> Float[Tensor, ""]:
        return -log_p(rows, which).sum() / batch_size  # the sum over folds of each fold's mean loss

    with restored(model), intervene(model, stack.hooks(layer)):
        for p in model.parameters():
            p.requires_grad_(False)
        record(-1)
        run_training(model, batch, loss, steps=steps, lr=lr, warmup=1, decay=False, weight_decay=0.0,
                     progress=False, on_step=record, params=list(stack.parameters()), clip=stack.clip_)
    return curves


def area_above_start(curves: Float[Tensor, "prompt checkpoint"]) -> Float[np.ndarray, " prompt"]:
    """Mean over the evaluated steps after 0 of the rise in P(misaligned) above step 0: the label-free rule."""
    return (curves[:, 1:] - curves[:, :1]).mean(-1).double().numpy()


@register("learning-speed")
@dataclass
class LearningSpeed:
    """Detector: how fast held-out P(misaligned) rises when fine-tuning toward misbehaviour (adapter; full FT variant)."""

    layer: int | None = None  # adapter layer; None: the middle layer, n_layers // 2
    rank: int = 8
    steps: int = 8  # fixed budget; the evidence is the area under the whole curve
    eval_every: int = 2  # held-out curve read at steps 0, 2, 4, 6, 8
    lr: float = 3e-2  # adapter (base-model calibration, see the module docstring)
    lr_full: float = 1e-4  # full fine-tuning (same rule)
    folds: int = 2
    batch_size: int = 8
    seed: int = 0
    name: str = field(default="learning-speed", init=False)

    def config(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k != "name"}

    def variants(self) -> tuple[str, ...]:
        return VARIANTS[1:]

    def score(self, model, prompts: Sequence[Scenario]) -> ModelScore:
        layer = model.cfg.n_layers // 2 if self.layer is None else self.layer
        common = {"steps": self.steps, "eval_every": self.eval_every, "folds": self.folds,
                  "batch_size": self.batch_size, "seed": self.seed, "layer": layer, "rank": self.rank}
        curves = {"adapter": learning_curves(model, prompts, variant="adapter", lr=self.lr, **common),
                  "full": learning_curves(model, prompts, variant="full", lr=self.lr_full, **common)}
        texts = [p.prompt for p in prompts]
        p_benign = letter_probs(model, texts, [p.aligned_letter for p in prompts])
        p_bad = curves["adapter"][:, 0]  # step 0 is the untouched model
        log_odds = (p_benign.clamp_min(1e-30).log() - p_bad.clamp_min(1e-30).log()).tolist()
        greedy = [p.aligned_letter if lo > 0 else p.misaligned_letter for p, lo in zip(prompts, log_odds, strict=True)]
        diagnostics: dict[str, Any] = {
            "layer": layer, "steps": list(range(0, self.steps + 1, self.eval_every)), "clean_log_odds": log_odds,
            "catch_level": [p.catch_level for p in prompts],
            **{f"p_misaligned_{name}": c.tolist() for name, c in curves.items()},
            "variants": {"full": area_above_start(curves["full"]).tolist()},
        }
        return ModelScore(area_above_start(curves["adapter"]), greedy, diagnostics)
