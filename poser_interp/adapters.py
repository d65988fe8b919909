"""A low-rank adapter (LoRA) beside one block's MLP, applied through hooks rather than by editing the model.

The update `(x @ A) @ B` is computed from the MLP's input `x` (read at `ln2.hook_normalized`) and
added to the MLP's output (`hook_mlp_out`), as a LoRA on the whole MLP would. `B` starts at zero,
so at initialisation the model's outputs are exactly unchanged. Unlike the Poser code, the MLP
output is not multiplied by an `alpha` (which doubled it before any training).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from einops import einsum
from jaxtyping import Float, Int
from torch import Tensor

from poser_interp.hooks import HookFn, HookPointLike, block_hook


class LowRankAdapter(torch.nn.Module):
    """Rank-`rank` update `x @ A @ B` added to one block's MLP output; `A` ~ N(0, 1/d_in), `B` = 0."""

    def __init__(self, d_in: int, d_out: int, *, rank: int = 8, seed: int = 0, dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.A = torch.nn.Parameter((torch.randn(d_in, rank, generator=gen) / d_in**0.5).to(dtype))
        self.B = torch.nn.Parameter(torch.zeros(rank, d_out, dtype=dtype))

    def update(self, x: Float[Tensor, "batch pos d_in"]) -> Float[Tensor, "batch pos d_out"]:
        return (x @ self.A) @ self.B

    def hooks(self, layer: int) -> list[tuple[str, HookFn]]:
        """The two hooks (read the MLP input, add the update to the MLP output) for `intervene`."""
        return mlp_update_hooks(layer, self.update)


def mlp_update_hooks(layer: int, update: Callable[[Tensor], Tensor]) -> list[tuple[str, HookFn]]:
    """Hooks that add `update(mlp_input)` to block `layer`'s MLP output."""
    stash: list[Tensor] = []

    def read_mlp_input(activation: Float[Tensor, "batch pos d_model"], *, hook: HookPointLike) -> None:
        stash.append(activation)  # not detached: the update must carry gradients to the adapter

    def add_update(activation: Float[Tensor, "batch pos d_model"], *, hook: HookPointLike
                   ) -> Float[Tensor, "batch pos d_model"]:
        return activation + update(stash.pop()).to(activation.dtype)

    return [(block_hook(layer, "ln2.hook_normalized"), read_mlp_input), (block_hook(layer, "hook_mlp_out"), add_update)]


class StackedAdapters(torch.nn.Module):
    """`len(seeds)` independent `LowRankAdapter`s trained as one stack: batch row b gets adapter
    `which[b]`. Each starts as `LowRankAdapter(seed=seeds[k])`; AdamW is elementwise and `clip_`
    clips each adapter's own gradient norm, so training the stack trains each one as if alone."""

    def __init__(self, d_in: int, d_out: int, *, rank: int, seeds: Sequence[int], dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        singles = [LowRankAdapter(d_in, d_out, rank=rank, seed=s, dtype=dtype) for s in seeds]
        self.A = torch.nn.Parameter(torch.stack([a.A.detach() for a in singles]))
        self.B = torch.nn.Parameter(torch.stack([a.B.detach() for a in singles]))
        self.which: Tensor = torch.zeros(0, dtype=torch.long)  # set before each forward

    def update(self, x: Float[Tensor, "batch pos d_in"], which: Int[Tensor, " batch"]) -> Float[Tensor, "batch pos d_out"]:
        low = einsum(x, self.A[which], "b p d, b d r -> b p r")
        return einsum(low, self.B[which], "b p r, b r e -> b p e")

    def clip_(self, max_norm: float = 1.0) -> None:
        """Scale each adapter's gradients to norm <= `max_norm`, as `clip_grad_norm_` does for one."""
        norms = (self.A.grad.pow(2).sum((1, 2)) + self.B.grad.pow(2).sum((1, 2))).sqrt()
        coef = (max_norm / (norms + 1e-6)).clamp(max=1.0)
        self.A.grad.mul_(coef[:, None, None])
        self.B.grad.mul_(coef[:, None, None])

    def hooks(self, layer: int) -> list[tuple[str, HookFn]]:
        """The two hooks of `LowRankAdapter.hooks`, each row with the adapter `self.which` names."""
        return mlp_update_hooks(layer, lambda x: self.update(x, self.which))
