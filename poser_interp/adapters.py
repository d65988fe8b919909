"""A low-rank adapter (LoRA) beside one block's MLP, applied through hooks rather than by editing the model.

The update `(x @ A) @ B` is computed from the MLP's input `x` (read at `ln2.hook_normalized`) and
added to the MLP's output (`hook_mlp_out`), as a LoRA on the whole MLP would. `B` starts at zero,
so at initialisation the model's outputs are exactly unchanged. Unlike the Poser code, the MLP
output is not multiplied by an `alpha` (which doubled it before any training).
"""

from __future__ import annotations

import torch
from jaxtyping import Float
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
        stash: list[Tensor] = []

        def read_mlp_input(activation: Float[Tensor, "batch pos d_model"], *, hook: HookPointLike) -> None:
            stash.append(activation)  # not detached: the update must carry gradients to A

        def add_update(activation: Float[Tensor, "batch pos d_model"], *, hook: HookPointLike
                       ) -> Float[Tensor, "batch pos d_model"]:
            return activation + self.update(stash.pop()).to(activation.dtype)

        return [(block_hook(layer, "ln2.hook_normalized"), read_mlp_input), (block_hook(layer, "hook_mlp_out"), add_update)]
