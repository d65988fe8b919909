"""A fused forward for plain pre-LayerNorm transformers (the zoo's architecture): the hot paths' stand-in
for `HookedTransformer.forward`, equal to it within float rounding and about 2.5x faster on a CPU.

Why: at 0.45M parameters a TransformerLens forward spends its time on attention bookkeeping (an explicit
causal mask, `where`, a softmax over a materialised pattern), not on matmuls. Here each layer's attention
is one `scaled_dot_product_attention` call. Prompts are right-padded, so a real token never attends to a
pad (pads come after every real token and attention is causal): the real positions, the only ones read,
are exact without a padding mask, as in the model's own forward on the same tokens.

The residual-stream hook points (`hook_embed`, `hook_pos_embed`, and every block's `hook_resid_pre`,
`hook_attn_out`, `hook_resid_mid`, `hook_mlp_out`, `hook_resid_post`, and the norms' `hook_normalized`,
which the adapters read) are still called, so `hooks.intervene` patches and captures there exactly as on
the model's forward. A hook anywhere else (attention pattern, q/k/v, MLP internals), another
architecture or dtype sends the call to the model's own forward (`fused_ok` decides). Differentiable:
training uses it too.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from einops import einsum, rearrange
from jaxtyping import Float, Int
from torch import Tensor

# The hook points this forward calls (per block, and the model's own); the final norm and unembedding
# are the model's modules, so their hooks fire too. A hook on any other module falls back.
BLOCK_HOOKS = frozenset({"hook_resid_pre", "ln1.hook_normalized", "hook_attn_out", "hook_resid_mid",
                         "ln2.hook_normalized", "hook_mlp_out", "hook_resid_post"})
MODEL_HOOKS = frozenset({"hook_embed", "hook_pos_embed"})


# HookedTransformerConfig fields that the hand-written forwards (here and `engine`'s last-position path)
# reimplement, each with the only value they support.
_FAST_PATH_CONFIG = {
    "positional_embedding_type": "standard", "n_key_value_heads": None, "parallel_attn_mlp": False,
    "attn_only": False, "use_attn_in": False, "use_split_qkv_input": False, "use_hook_mlp_in": False,
    "use_normalization_before_and_after": False, "use_logn_attn": False, "clip_qkv": None,
    "attention_dir": "causal", "use_qk_norm": False,
}


def fast_path_supported(model) -> bool:
    """Whether the last-position fast path reproduces this model's blocks (plain pre-norm attention + MLP)."""
    cfg = model.cfg
    if any(getattr(cfg, key, value) != value for key, value in _FAST_PATH_CONFIG.items()):
        return False
    if (getattr(cfg, "attn_scores_soft_cap", -1.0) or -1.0) > 0 or (getattr(cfg, "output_logits_soft_cap", -1.0) or -1.0) > 0:
        return False
    types = getattr(cfg, "attn_types", None)
    return (types is None or all(t == "global" for t in types)) and cfg.original_architecture \
        not in {"OlmoeForCausalLM", "Olmo2ForCausalLM", "Olmo3ForCausalLM"}


def unembed(model, resid: Float[Tensor, "batch pos d_model"]) -> Float[Tensor, "batch pos vocab"]:
    """The model's final norm, unembedding and logit soft-cap (as its own forward ends)."""
    if model.cfg.normalization_type is not None:
        resid = model.ln_final(resid)
    logits = model.unembed(resid)
    cap = getattr(model.cfg, "output_logits_soft_cap", -1.0) or -1.0
    return cap * torch.tanh(logits / cap) if cap > 0 else logits


def _plain_architecture(model) -> bool:
    """A float32 HookedTransformer of LayerNorm + standard attention + a non-gated MLP, learned positions."""
    cfg = model.cfg
    if type(model).__name__ != "HookedTransformer" or not fast_path_supported(model):
        return False
    if cfg.normalization_type != "LN" or cfg.gated_mlp or cfg.is_layer_norm_activation() or cfg.use_attn_result:
        return False
    if getattr(cfg, "use_hook_tokens", False) or getattr(cfg, "final_rms", False) or cfg.dtype != torch.float32 \
            or model.embed.W_E.dtype != torch.float32:  # a model cast after loading keeps its cfg.dtype
        return False
    return all(type(block.mlp).__name__ == "MLP" and type(block.attn).__name__ == "Attention" for block in model.blocks)


def _honoured(name: str) -> bool:
    """Whether a hook on module `name` fires on the fused path exactly as on the model's forward."""
    if name in MODEL_HOOKS or name.startswith(("ln_final", "unembed")):
        return True
    parts = name.split(".", 2)
    return len(parts) == 3 and parts[0] == "blocks" and parts[2] in BLOCK_HOOKS


def _hooks_elsewhere(model) -> bool:
    """Whether a module the fused path does not call carries a forward or backward hook."""
    return any((m._forward_hooks or m._forward_pre_hooks or m._backward_hooks or getattr(m, "_backward_pre_hooks", None))
               and not _honoured(name) for name, m in model.named_modules())


_enabled = True


@contextmanager
def unfused() -> Iterator[None]:
    """Inside the block every caller takes the model's own forward: the oracle of the speed tests and the
    'old' column of `benchmarks/pipeline_speed.py`."""
    global _enabled
    before, _enabled = _enabled, False
    try:
        yield
    finally:
        _enabled = before


def fused_ok(model) -> bool:
    """Whether `residual` / `last_logits` here reproduce this model's forward with its current hooks."""
    return _enabled and _plain_architecture(model) and not _hooks_elsewhere(model)


def _attention(attn, x: Float[Tensor, "batch pos d_model"], keys_values: list[tuple[Tensor, Tensor]] | None = None
               ) -> Float[Tensor, "batch pos d_model"]:
    """Causal multi-head attention of one layer (TransformerLens weights: W_Q [head d_model d_head] ...);
    appends its keys and values, as `attn.hook_k` / `hook_v` see them ([batch pos head d_head]), to `keys_values`."""
    q = einsum(x, attn.W_Q, "b p d, h d e -> b h p e") + rearrange(attn.b_Q, "h e -> h 1 e")
    k = einsum(x, attn.W_K, "b p d, h d e -> b h p e") + rearrange(attn.b_K, "h e -> h 1 e")
    v = einsum(x, attn.W_V, "b p d, h d e -> b h p e") + rearrange(attn.b_V, "h e -> h 1 e")
    scale = 1.0 / float(attn.attn_scale) if attn.cfg.use_attn_scale else 1.0
    if keys_values is not None:
        keys_values.append((rearrange(k, "b h p e -> b p h e"), rearrange(v, "b h p e -> b p h e")))
    z = F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=scale)
    return einsum(z, attn.W_O, "b h p e, h e d -> b p d") + attn.b_O


def _layer_norm(ln, x: Float[Tensor, "batch pos d_model"]) -> Float[Tensor, "batch pos d_model"]:
    """TransformerLens's LayerNorm: `hook_normalized` sees the normalised input before the gain and bias."""
    return ln.hook_normalized(F.layer_norm(x, (x.shape[-1],), eps=ln.eps)) * ln.w + ln.b


def residual(model, tokens: Int[Tensor, "batch pos"] | None = None, *, resid: Float[Tensor, "batch pos d_model"] | None = None,
             start_at_layer: int = 0, stop_at_layer: int | None = None,
             keys_values: list[tuple[Tensor, Tensor]] | None = None) -> Float[Tensor, "batch pos d_model"]:
    """The residual stream before block `stop_at_layer` (default: after the last block), from `tokens`
    or from `resid` entering block `start_at_layer`; as `model(..., start_at_layer, stop_at_layer)`.
    `keys_values` (optional) collects each block's attention keys and values, in block order."""
    stop = model.cfg.n_layers if stop_at_layer is None else stop_at_layer
    if resid is None:
        if tokens is None:
            raise ValueError("fused.residual needs tokens or resid")
        # Indexed, not sliced: a slice of a parameter made under no_grad is a view that claims to need a
        # gradient without a graph, which trips module hooks such as torch's FLOP counter.
        pos = model.pos_embed.W_pos[torch.arange(tokens.shape[1], device=tokens.device)].expand(tokens.shape[0], -1, -1)
        resid = model.hook_embed(model.embed.W_E[tokens]) + model.hook_pos_embed(pos)
    for block in model.blocks[start_at_layer:stop]:
        resid = block.hook_resid_pre(resid)
        mid = block.hook_resid_mid(resid + block.hook_attn_out(_attention(block.attn, _layer_norm(block.ln1, resid), keys_values)))
        mlp = block.mlp
        hidden = mlp.act_fn(_layer_norm(block.ln2, mid) @ mlp.W_in + mlp.b_in)
        resid = block.hook_resid_post(mid + block.hook_mlp_out(hidden @ mlp.W_out + mlp.b_out))
    return resid


def last_logits(model, tokens: Int[Tensor, "batch pos"] | None, lengths: Int[Tensor, " batch"], *,
                resid: Float[Tensor, "batch pos d_model"] | None = None, start_at_layer: int = 0
                ) -> Float[Tensor, "batch vocab"]:
    """Next-token logits at each row's last real token (the unembedding run only there)."""
    final = residual(model, tokens, resid=resid, start_at_layer=start_at_layer)
    last = final[torch.arange(final.shape[0], device=final.device), lengths - 1]
    return unembed(model, rearrange(last, "b d -> b 1 d"))[:, 0]


def logits(model, tokens: Int[Tensor, "batch pos"]) -> Float[Tensor, "batch pos vocab"]:
    """Next-token logits at every position (language-model training): fused where `fused_ok`, else the
    model's own forward."""
    return unembed(model, residual(model, tokens)) if fused_ok(model) else model(tokens, return_type="logits")
