"""Low-rank adapters on a HookedTransformer's linear maps (LoRA), in PEFT's names and shapes.

A rank-`r` update of a projection is `W += B @ A` (`A` [r, in], `B` [out, r], scaling 1), keyed as
PEFT keys it (`model.layers.<i>.self_attn.q_proj.lora_A.weight`). `attached` trains or evaluates
adapters as a parametrization of the frozen weights (the base is exactly restored afterwards);
`merge` adds them into the weights for good. Both compute `W + B @ A` the same way, in the
weight's TransformerLens layout, so a merged model gives exactly the logits its adapters did.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from einops import rearrange
from torch import Tensor
from torch.nn.utils import parametrize

from poser_interp.errors import PoserInputError

# HF projection -> (TransformerLens block part, its weight, layout of the HF [out, in] update there).
PROJECTIONS = {"q_proj": ("attn", "W_Q", "heads_in"), "k_proj": ("attn", "W_K", "heads_in"),
               "v_proj": ("attn", "W_V", "heads_in"), "o_proj": ("attn", "W_O", "heads_out"),
               "gate_proj": ("mlp", "W_gate", "plain"), "up_proj": ("mlp", "W_in", "plain"),
               "down_proj": ("mlp", "W_out", "plain")}
_LAYOUT = {  # (HF update [out, in] -> the TL weight's shape, the (out, in) of a TL weight)
    "heads_in": (lambda d, w: rearrange(d, "(n h) m -> n m h", n=w.shape[0]), lambda w: (w.shape[0] * w.shape[2], w.shape[1])),
    "heads_out": (lambda d, w: rearrange(d, "m (n h) -> n h m", n=w.shape[0]), lambda w: (w.shape[2], w.shape[0] * w.shape[1])),
    "plain": (lambda d, w: d.T, lambda w: (w.shape[1], w.shape[0])),
}


def lora_sites(model, targets: tuple[str, ...]) -> Iterator[tuple[str, Any, str, str]]:
    """(PEFT key prefix, TL module, weight name, layout) of every adapted weight."""
    gqa = getattr(model.cfg, "n_key_value_heads", None) is not None
    for layer, block in enumerate(model.blocks):
        for proj in targets:
            part, weight, layout = PROJECTIONS[proj]
            weight = f"_{weight}" if gqa and weight in ("W_K", "W_V") else weight
            yield f"model.layers.{layer}.{'self_attn' if part == 'attn' else 'mlp'}.{proj}", getattr(block, part), weight, layout


class _Update(torch.nn.Module):
    """Parametrizes a frozen weight as `W + B @ A` (in the weight's TL layout and dtype)."""

    def __init__(self, A: Tensor, B: Tensor, layout: str) -> None:
        super().__init__()
        self.A, self.B, self.layout = torch.nn.Parameter(A), torch.nn.Parameter(B), layout

    def forward(self, w: Tensor) -> Tensor:
        return w + _LAYOUT[self.layout][0](self.B @ self.A, w).to(w.dtype)


@contextlib.contextmanager
def attached(model, targets: tuple[str, ...], rank: int, seed: int, state: dict[str, Tensor] | None = None
             ) -> Iterator[dict[str, _Update]]:
    """The model with float32 adapters (fresh: A ~ N(0, 1/in), B = 0; or `state`); afterwards the base
    weights are exactly what they were."""
    gen = torch.Generator().manual_seed(seed)
    updates: dict[str, _Update] = {}
    try:
        for key, module, name, layout in lora_sites(model, targets):
            w = getattr(module, name)
            n_out, n_in = _LAYOUT[layout][1](w)
            A = state[f"{key}.lora_A.weight"] if state else torch.randn(rank, n_in, generator=gen) / n_in**0.5
            B = state[f"{key}.lora_B.weight"] if state else torch.zeros(n_out, rank)
            updates[key] = _Update(A.float().to(w.device), B.float().to(w.device), layout)
            parametrize.register_parametrization(module, name, updates[key])
        yield updates
    finally:
        for _, module, name, _ in lora_sites(model, targets):
            if parametrize.is_parametrized(module, name):
                parametrize.remove_parametrizations(module, name, leave_parametrized=False)


@torch.no_grad()
def merge(model, state: dict[str, Tensor], targets: tuple[str, ...]) -> None:
    """Add each adapter's `B @ A` into the weights in place (what `attached` computes, made permanent)."""
    for key, module, name, layout in lora_sites(model, targets):
        w = getattr(module, name)
        update = state[f"{key}.lora_B.weight"].float().to(w.device) @ state[f"{key}.lora_A.weight"].float().to(w.device)
        w.copy_(w + _LAYOUT[layout][0](update, w).to(w.dtype))


def read_adapter(path: Path) -> dict[str, Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load

    try:
        return load(path.read_bytes())
    except (SafetensorError, OSError) as err:
        raise PoserInputError(f"{path}: unreadable adapter ({err})") from None
