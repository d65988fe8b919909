"""Strategy 6: attentiveness to oversight, how much the answer leans on the critical fact (Poser §3.6).

Three measures per prompt, each higher = more faker-like (a faker must check whether it is watched):

- attention (main evidence): attention mass from the final position onto the critical fact's tokens
  (summed over those tokens, averaged over heads and layers; per layer in diagnostics);
- `counterfactual` variant: 1 - cosine between the last-token residual (before the middle layer)
  with and without the critical fact, the second prompt in the first one's exact frame (the original
  code compared a `<<prompt>>`-wrapped prompt with an unwrapped one, so even the last token differed);
- `saliency` variant: the share of the gradient norm |d log P(greedy letter) / d token embedding|
  that falls on the critical fact's tokens.

Prompts without a critical fact score 0 on every measure and are flagged in diagnostics.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from jaxtyping import Bool, Float, Int
from torch import Tensor

from poser_interp.data.generate import render_prompt
from poser_interp.data.records import Scenario
from poser_interp.errors import PoserInputError
from poser_interp.hooks import HookFn, HookPointLike, block_hook, intervene
from poser_interp.readout import batched, fact_token_spans, gather_last, last_token_residuals, letter_ids, model_inputs
from poser_interp.strategies.base import ModelScore, register


def critical_mask(model, prompts: Sequence[Scenario], n_pos: int) -> Bool[Tensor, "batch pos"]:
    """True at the tokens of each prompt's critical fact(s), as `model_inputs` tokenizes the batch."""
    mask = torch.zeros(len(prompts), n_pos, dtype=torch.bool)
    add_bos = bool(model.cfg.default_prepend_bos)
    for row, p in enumerate(prompts):
        facts = [f.content for f in p.critical_facts]
        for start, end in fact_token_spans(model.tokenizer, p.prompt, facts, add_bos=add_bos):
            mask[row, start:end] = True
    return mask


def _last_query(pattern: Float[Tensor, "batch head q k"], positions: Int[Tensor, " batch"]) -> Float[Tensor, "batch head k"]:
    """Each row's attention pattern from its own query position."""
    return pattern[torch.arange(pattern.shape[0], device=pattern.device), :, positions.to(pattern.device)]


def capture_query(store: dict[str, Tensor], positions: Int[Tensor, " batch"]) -> HookFn:
    """For `attn.hook_pattern`: store a detached `[batch head k]` copy of each row's pattern at its query position."""

    def hook(pattern: Float[Tensor, "batch head q k"], *, hook: HookPointLike) -> None:
        store[str(hook.name)] = _last_query(pattern, positions).detach().float().cpu()

    return hook


def _mass_on(rows: Float[Tensor, "batch head k"], mask: Bool[Tensor, "batch k"]) -> Float[Tensor, " batch"]:
    """Attention mass on the masked keys, averaged over heads."""
    return (rows * mask[:, None, :]).sum(-1).mean(-1)


@torch.no_grad()
def attention_to_facts(model, prompts: Sequence[Scenario], *, batch_size: int = 16
                       ) -> tuple[Float[Tensor, "n layer"], Float[Tensor, "n vocab"]]:
    """Per prompt and layer: attention mass from the last token onto the critical fact(s); and the clean logits."""
    names = [block_hook(layer, "attn.hook_pattern") for layer in range(model.cfg.n_layers)]
    mass, logits = [], []
    for chunk in batched(prompts, batch_size):
        tokens, lengths = model_inputs(model, [p.prompt for p in chunk])
        mask = critical_mask(model, chunk, tokens.shape[1])
        store: dict[str, Tensor] = {}
        with intervene(model, [(name, capture_query(store, lengths - 1)) for name in names]):
            out = model(tokens, return_type="logits")
        mass.append(torch.stack([_mass_on(store[name], mask) for name in names], dim=1))
        logits.append(gather_last(out, lengths).float().cpu())
    return torch.cat(mass), torch.cat(logits)


def drop_fact_lines(prompt: str, facts: Sequence[str]) -> str:
    """`prompt` without the numbered lines holding `facts`, the remaining items renumbered 1, 2, ..."""
    lines = prompt.split("\n")
    drop = set()
    for fact in facts:
        hits = [i for i, line in enumerate(lines) if re.fullmatch(rf"\s*\d+\.\s*{re.escape(fact)}\s*", line)]
        if not hits:
            raise PoserInputError(f"no numbered line holds the fact {fact[:60]!r}")
        drop.add(hits[0])
    kept, number = [], 0
    for i, line in enumerate(lines):
        if i in drop:
            continue
        item = re.match(r"(\s*)\d+\.(?=\s)", line)
        if item:
            number += 1
            line = f"{item.group(1)}{number}." + line[item.end():]
        kept.append(line)
    return "\n".join(kept)


def without_critical(p: Scenario) -> str:
    """The prompt with its critical fact(s) removed: re-rendered by `render_prompt` when that reproduces
    the prompt exactly (generated data), else the fact lines dropped from the prompt text (Poser data)."""
    kept = [f for f in p.facts if f.type != "critical"]
    if render_prompt(list(p.facts), p.actions) == p.prompt:
        return render_prompt(kept, p.actions)
    return drop_fact_lines(p.prompt, [f.content for f in p.critical_facts])


def _one_minus_cosine(a: Float[Tensor, "n d_model"], b: Float[Tensor, "n d_model"]) -> Float[Tensor, " n"]:
    return 1.0 - torch.nn.functional.cosine_similarity(a.double(), b.double(), dim=-1).float()


def counterfactual_shift(model, prompts: Sequence[Scenario], *, layer: int, batch_size: int = 16) -> Float[Tensor, " n"]:
    """1 - cosine of the last-token residual before `layer`, with vs without the critical fact(s)."""
    with_fact, _ = last_token_residuals(model, [p.prompt for p in prompts], [layer], where="pre", batch_size=batch_size)
    without, _ = last_token_residuals(model, [without_critical(p) for p in prompts], [layer], where="pre",
                                      batch_size=batch_size)
    return _one_minus_cosine(with_fact[:, 0], without[:, 0])


def _leaf(store: dict[str, Tensor]) -> HookFn:
    """Replace the activation by a leaf that requires grad (kept in `store`), so gradients can be read off it."""

    def hook(activation: Float[Tensor, "batch pos d_model"], *, hook: HookPointLike) -> Float[Tensor, "batch pos d_model"]:
        leaf = activation.detach().requires_grad_(True)
        store[str(hook.name)] = leaf
        return leaf

    return hook


def embedding_saliency(model, tokens: Int[Tensor, "batch pos"], lengths: Int[Tensor, " batch"],
                       targets: Int[Tensor, " batch"]) -> Float[Tensor, "batch pos"]:
    """|d log P(target at the last real token) / d token embedding| per position (0 at padding)."""
    store: dict[str, Tensor] = {}
    with torch.enable_grad(), intervene(model, [("hook_embed", _leaf(store))]):
        logits = model(tokens, return_type="logits")
        logp = torch.log_softmax(gather_last(logits, lengths).float(), dim=-1)
        picked = logp.gather(-1, targets.to(logp.device)[:, None]).sum()
        (grad,) = torch.autograd.grad(picked, store["hook_embed"])
    norms = grad.float().norm(dim=-1).cpu()
    real = torch.arange(tokens.shape[1])[None, :] < lengths[:, None]
    return torch.where(real, norms, torch.zeros_like(norms))


def saliency_share(model, prompts: Sequence[Scenario], letters: Sequence[str], *, batch_size: int = 8
                   ) -> Float[Tensor, " n"]:
    """Share of the embedding-gradient norm (of log P(letter)) on the critical fact's tokens."""
    out = []
    for start in range(0, len(prompts), batch_size):
        chunk = prompts[start : start + batch_size]
        tokens, lengths = model_inputs(model, [p.prompt for p in chunk])
        sal = embedding_saliency(model, tokens, lengths, letter_ids(model.tokenizer, letters[start : start + batch_size]))
        mask = critical_mask(model, chunk, tokens.shape[1])
        out.append((sal * mask).sum(-1) / sal.sum(-1).clamp_min(1e-30))
    return torch.cat(out) if out else torch.zeros(0)


@register("attention")
@dataclass
class Attentiveness:
    """Detector: attention from the answer position onto the critical (oversight) fact; more = faker."""

    layer: int | None = None  # counterfactual residual point: before this layer; None = n_layers // 2
    batch_size: int = 16
    name: str = field(default="attention", init=False)

    def config(self) -> dict[str, Any]:
        """Hyperparameters that change results (not the batch size)."""
        return {k: v for k, v in asdict(self).items() if k not in ("name", "batch_size")}

    def variants(self) -> tuple[str, ...]:
        return ("counterfactual", "saliency")

    def score(self, model, prompts: Sequence[Scenario]) -> ModelScore:
        n = len(prompts)
        layer = model.cfg.n_layers // 2 if self.layer is None else self.layer
        if not prompts:
            return ModelScore(np.zeros(0), [], {"n_prompts": 0, "variants": {"counterfactual": [], "saliency": []}})
        by_layer, logits = attention_to_facts(model, prompts, batch_size=self.batch_size)
        ab = letter_ids(model.tokenizer, ["A", "B"])
        greedy = ["A" if a else "B" for a in (logits[:, ab[0]] > logits[:, ab[1]]).tolist()]
        has = [bool(p.critical_facts) for p in prompts]
        idx = [i for i in range(n) if has[i]]
        subset = [prompts[i] for i in idx]
        shift, share = np.zeros(n), np.zeros(n)
        if subset:
            shift[idx] = counterfactual_shift(model, subset, layer=layer, batch_size=self.batch_size).double().numpy()
            share[idx] = saliency_share(model, subset, [greedy[i] for i in idx],
                                        batch_size=max(1, self.batch_size // 2)).double().numpy()
        benign = letter_ids(model.tokenizer, [p.aligned_letter for p in prompts])
        bad = letter_ids(model.tokenizer, [p.misaligned_letter for p in prompts])
        rows = torch.arange(n)
        per_layer = by_layer[torch.tensor(has)].mean(0) if idx else torch.zeros(by_layer.shape[1])
        diagnostics = {
            "n_prompts": n, "counterfactual_layer": layer,
            "has_critical": has, "n_without_critical": n - len(idx),
            "counterfactual_rerendered": sum(render_prompt(list(p.facts), p.actions) == p.prompt for p in subset),  # else lines dropped
            "attention_by_layer": by_layer.tolist(), "attention_per_layer": per_layer.tolist(),
            "counterfactual_shift": shift.tolist(), "saliency_share": share.tolist(),
            "clean_log_odds": (logits[rows, benign] - logits[rows, bad]).tolist(),
            "catch_level": [p.catch_level for p in prompts],
            "variants": {"counterfactual": shift.tolist(), "saliency": share.tolist()},
        }
        return ModelScore(by_layer.mean(1).double().numpy(), greedy, diagnostics)
