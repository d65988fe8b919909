"""Clean pass once, many interventions after: the execution path of every last-position intervention.

Strategies that perturb the residual stream before one layer at each prompt's last real token (noise,
steering, ...) run the same prompts many times with different perturbations. Here the prompts run
ONCE, batched and right-padded through `readout.model_inputs`, and that clean pass keeps what every
later perturbation needs: the residual at the intervention layer at the last real token, the clean
keys and values of every layer from there on, and the clean logits. A perturbation then runs only
the last position, only through the layers from the intervention on: its attention reads the clean
keys/values of the earlier positions (clean because only the last position changed and attention
is causal) plus its own. All perturbations of one prompt share those keys, so they are R queries
against one key set (no R-fold copy of the cache).

The intervention itself is a hook on the model's `hook_resid_pre` point (`hooks.intervene`, fires
counted), so the fast path and a plain forward patch the same activation. Architectures outside the
fast path's allowlist (rotary, grouped-query attention, ...) take the generic path: the clean residual
at the layer, every position, through `model(..., start_at_layer=layer)`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch
from einops import einsum, rearrange, repeat
from jaxtyping import Float, Int
from torch import Tensor

from poser_interp import fused
from poser_interp.fused import fast_path_supported, unembed  # noqa: F401  (also for callers of the engine)
from poser_interp.hooks import add_noise, capture, intervene, resid_name
from poser_interp.readout import gather_last, length_batches, model_inputs  # noqa: F401  (length_batches: also for callers)


@dataclass(frozen=True)
class CleanPass:
    """One batch of prompts run once without intervention: what every perturbation at `layer` reuses."""

    layer: int
    lengths: Int[Tensor, " batch"]
    resid: Float[Tensor, "batch d_model"]  # resid_pre of `layer` at each row's last real token
    logits: Float[Tensor, "batch vocab"]  # clean next-token logits there
    keys: tuple[Tensor, ...]  # per layer from `layer` on: [batch pos head d_head] (fast path)
    values: tuple[Tensor, ...]
    resid_all: Tensor | None  # [batch pos d_model] resid_pre of `layer` at every position (generic path)


@torch.no_grad()
def clean_pass(model, texts: Sequence[str], layer: int, *, fast: bool | None = None) -> CleanPass:
    """Run `texts` once as one right-padded batch and keep what perturbations at `layer` need."""
    fast = fast_path_supported(model) if fast is None else fast
    tokens, lengths = model_inputs(model, texts)
    if fast and fused.fused_ok(model):
        return _fused_clean_pass(model, tokens, lengths, layer)
    store: dict[str, Tensor] = {}
    point = resid_name(layer)
    hooks = [(point, capture(store) if not fast else capture(store, positions=lengths - 1))]
    later = range(layer, model.cfg.n_layers) if fast else range(0)
    hooks += [(f"blocks.{i}.attn.hook_{kv}", capture(store)) for i in later for kv in ("k", "v")]
    with intervene(model, hooks):
        logits = gather_last(model(tokens, return_type="logits"), lengths)
    resid_all = None if fast else store[point]
    resid = store[point] if fast else gather_last(store[point], lengths)
    return CleanPass(layer, lengths, resid, logits,
                     tuple(store[f"blocks.{i}.attn.hook_k"] for i in later),
                     tuple(store[f"blocks.{i}.attn.hook_v"] for i in later), resid_all)


def _fused_clean_pass(model, tokens: Int[Tensor, "batch pos"], lengths: Int[Tensor, " batch"], layer: int) -> CleanPass:
    """`clean_pass` on the fused forward: keys and values collected by it, the residual by a hook (so
    hooks a caller attached at `layer` act on it as on the model's forward)."""
    store: dict[str, Tensor] = {}
    with intervene(model, [(resid_name(layer), capture(store, positions=lengths - 1))]):
        kv: list[tuple[Tensor, Tensor]] = []
        final = fused.residual(model, tokens, keys_values=kv)
    logits = unembed(model, rearrange(gather_last(final, lengths), "b d -> b 1 d"))[:, 0]
    return CleanPass(layer, lengths, store[resid_name(layer)], logits,
                     tuple(k for k, _ in kv[layer:]), tuple(v for _, v in kv[layer:]), None)


def clean_passes(model, texts: Sequence[str], layer: int, *, batch_size: int = 32
                 ) -> Iterator[tuple[list[int], CleanPass]]:
    """Clean passes over `texts` in batches of similar length, each with the indices of its rows."""
    for rows in length_batches(texts, batch_size):
        yield rows, clean_pass(model, [texts[i] for i in rows], layer)


def _attend_last(attn, x: Float[Tensor, "batch rows d_model"], keys: Float[Tensor, "batch pos head d_head"],
                 values: Float[Tensor, "batch pos head d_head"], lengths: Int[Tensor, " batch"]
                 ) -> Float[Tensor, "batch rows d_model"]:
    """One attention layer for the last real token only: clean keys/values before it, its own at it."""
    q = einsum(x, attn.W_Q, "b r d, h d e -> b r h e") + attn.b_Q
    k_own = einsum(x, attn.W_K, "b r d, h d e -> b r h e") + attn.b_K
    v_own = einsum(x, attn.W_V, "b r d, h d e -> b r h e") + attn.b_V
    earlier = torch.arange(keys.shape[1], device=keys.device)[None, :] < (lengths[:, None] - 1).to(keys.device)
    scores = einsum(q, keys, "b r h e, b p h e -> b h r p") / attn.attn_scale
    scores = scores.masked_fill(~rearrange(earlier, "b p -> b 1 1 p"), float("-inf"))
    own = rearrange(einsum(q, k_own, "b r h e, b r h e -> b h r") / attn.attn_scale, "b h r -> b h r 1")
    pattern = torch.softmax(torch.cat([scores, own], dim=-1), dim=-1)
    z = einsum(pattern[..., :-1], values, "b h r p, b p h e -> b r h e") \
        + rearrange(pattern[..., -1], "b h r -> b r h 1") * v_own
    return einsum(z, attn.W_O, "b r h e, h e d -> b r d") + attn.b_O


def _run_last_position(model, clean: CleanPass, resid: Float[Tensor, "flat 1 d_model"], n_rows: int
                       ) -> Float[Tensor, "flat vocab"]:
    """The blocks from `clean.layer` on and the unembedding, for the last position of every row only."""
    for offset, block in enumerate(model.blocks[clean.layer :]):
        resid = block.hook_resid_pre(resid)
        x = rearrange(block.ln1(resid), "(b r) 1 d -> b r d", r=n_rows)
        attn_out = _attend_last(block.attn, x, clean.keys[offset], clean.values[offset], clean.lengths)
        mid = block.hook_resid_mid(resid + block.hook_attn_out(rearrange(attn_out, "b r d -> (b r) 1 d")))
        resid = block.hook_resid_post(mid + block.apply_mlp(block.ln2(mid)))
    return unembed(model, resid)[:, 0]


def _run_generic(model, clean: CleanPass, n_rows: int) -> Float[Tensor, "flat vocab"]:
    """Every position of every row from `clean.layer` on (any architecture TransformerLens runs)."""
    resid = repeat(clean.resid_all, "b p d -> (b r) p d", r=n_rows)
    logits = model(resid, start_at_layer=clean.layer, return_type="logits")
    return gather_last(logits, repeat(clean.lengths, "b -> (b r)", r=n_rows))


@torch.no_grad()
def perturbed_log_probs(model, clean: CleanPass, deltas: Float[Tensor, "batch rows d_model"],
                        ids: Int[Tensor, "batch k"], *, max_rows: int = 4096) -> Float[Tensor, "batch rows k"]:
    """log P(ids[b]) at row b's last real token after adding `deltas[b, r]` to the residual before
    `clean.layer` there, for every row r; the softmax is over the whole vocabulary."""
    n_batch, n_rows = deltas.shape[:2]
    out = torch.empty(n_batch, n_rows, ids.shape[1])
    per_chunk = max(1, max_rows // max(1, n_batch))
    for start in range(0, n_rows, per_chunk):
        part = deltas[:, start : start + per_chunk]
        rows = part.shape[1]
        flat = rearrange(part, "b r d -> (b r) d")
        if clean.resid_all is None:
            positions = torch.zeros(flat.shape[0], dtype=torch.long)
            run = lambda: _run_last_position(model, clean, repeat(clean.resid, "b d -> (b r) 1 d", r=rows), rows)  # noqa: E731
        else:
            positions = repeat(clean.lengths - 1, "b -> (b r)", r=rows)
            run = lambda: _run_generic(model, clean, rows)  # noqa: E731
        with intervene(model, [(resid_name(clean.layer), add_noise(flat, positions=positions))]):
            logp = torch.log_softmax(run().float(), dim=-1)
        picked = logp.gather(-1, repeat(ids, "b k -> (b r) k", r=rows).to(logp.device))
        out[:, start : start + rows] = rearrange(picked, "(b r) k -> b r k", r=rows).cpu()
    return out


def _forward(model, x: Tensor, *, start_at_layer: int | None = None, stop_at_layer: int) -> Float[Tensor, "batch pos d_model"]:
    """The residual before block `stop_at_layer`, from tokens (`start_at_layer` None) or from a residual
    entering block `start_at_layer`, as the model's own forward takes them: the fused forward where it
    reproduces the model (`fused.fused_ok`), else the model's."""
    if fused.fused_ok(model):
        if start_at_layer is None:
            return fused.residual(model, x, stop_at_layer=stop_at_layer)
        return fused.residual(model, resid=x, start_at_layer=start_at_layer, stop_at_layer=stop_at_layer)
    return model(x, start_at_layer=start_at_layer, stop_at_layer=stop_at_layer)


def last_token_logits(model, tokens: Int[Tensor, "batch pos"], lengths: Int[Tensor, " batch"]
                      ) -> Float[Tensor, "batch vocab"]:
    """Next-token logits at each row's last real token, with the top block and the unembedding run
    only there (differentiable): a loss on the answer token reads nothing else, and this saves about
    a quarter of a zoo training step. Full forward for other architectures or when hooks are attached
    to what the shortcut skips."""
    top = model.cfg.n_layers - 1
    skipped = [model.blocks[top], model.ln_final, model.unembed] if model.cfg.normalization_type else \
        [model.blocks[top], model.unembed]
    hooked = any(m._forward_hooks or m._forward_pre_hooks or m._backward_hooks for part in skipped
                 for m in part.modules())
    if hooked or not fast_path_supported(model):
        return gather_last(model(tokens, return_type="logits"), lengths)
    block, attn = model.blocks[top], model.blocks[top].attn
    resid = _forward(model, tokens, stop_at_layer=top)  # resid_pre of the top block at every position
    x = block.ln1(resid)
    keys = einsum(x, attn.W_K, "b p d, h d e -> b p h e") + attn.b_K
    values = einsum(x, attn.W_V, "b p d, h d e -> b p h e") + attn.b_V
    last = rearrange(gather_last(resid, lengths), "b d -> b 1 d")
    mid = last + _attend_last(attn, rearrange(gather_last(x, lengths), "b d -> b 1 d"), keys, values, lengths)
    return unembed(model, mid + block.apply_mlp(block.ln2(mid)))[:, 0]


# --- a frozen prefix for training above a layer (strategy 3's adapter) ----------------------------


@torch.no_grad()
def residuals_before(model, texts: Sequence[str], layer: int, *, batch_size: int = 32
                     ) -> list[Float[Tensor, "pos d_model"]]:
    """Each text's residual stream before `layer` at its real positions: the blocks below run once."""
    out: list[Tensor] = [torch.empty(0)] * len(texts)
    for rows in length_batches(texts, batch_size):
        tokens, lengths = model_inputs(model, [texts[i] for i in rows])
        resid = _forward(model, tokens, stop_at_layer=layer)
        for j, i in enumerate(rows):
            out[i] = resid[j, : int(lengths[j])].clone()
    return out


def pad_residuals(resids: Sequence[Tensor]) -> tuple[Float[Tensor, "batch pos d_model"], Int[Tensor, " batch"]]:
    """Right-padded (with zeros, never read at the last real token) residuals and their lengths."""
    lengths = torch.tensor([r.shape[0] for r in resids])
    return torch.nn.utils.rnn.pad_sequence(list(resids), batch_first=True), lengths


def last_logits_from(model, resid: Float[Tensor, "batch pos d_model"], lengths: Int[Tensor, " batch"], layer: int
                     ) -> Float[Tensor, "batch vocab"]:
    """Next-token logits at each row's last real token, running the blocks from `layer` on (the
    unembedding only there); differentiable, for training above a frozen prefix."""
    final = _forward(model, resid, start_at_layer=layer, stop_at_layer=model.cfg.n_layers)
    return unembed(model, rearrange(gather_last(final, lengths), "b d -> b 1 d"))[:, 0]


def clean_log_probs(clean: CleanPass, ids: Int[Tensor, "batch k"]) -> Float[Tensor, "batch k"]:
    """log P(ids[b]) at row b's last real token without any perturbation."""
    return torch.log_softmax(clean.logits.float(), dim=-1).gather(-1, ids.to(clean.logits.device)).cpu()
