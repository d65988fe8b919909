"""Activation directions: read last-token residuals, take a difference of means, compare by cosine.

Shared by the steering (S1) and concept (S4) strategies, so both read the same position (each
prompt's last real token, via `readout`) at the same hook (via `hooks`) and build directions the
same way (a mass-mean probe: mean of one set minus mean of the other).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import torch
from jaxtyping import Float
from torch import Tensor

from poser_interp.hooks import capture, intervene
from poser_interp.readout import batched, gather_last, model_inputs


def mean_difference(pos: Float[Tensor, "n_pos d"], neg: Float[Tensor, "n_neg d"]) -> Float[Tensor, " d"]:
    """The mass-mean direction: mean of `pos` minus mean of `neg` (not normalised)."""
    if pos.shape[0] == 0 or neg.shape[0] == 0:
        raise ValueError("mean_difference needs at least one activation on each side")
    return pos.mean(0) - neg.mean(0)


def unit(vector: Float[Tensor, " d"]) -> Float[Tensor, " d"]:
    """`vector` scaled to norm 1 (a zero vector is an error: it has no direction)."""
    norm = vector.norm()
    if not torch.isfinite(norm) or norm == 0:
        raise ValueError(f"cannot normalise a vector of norm {float(norm)}")
    return vector / norm


def cosine_to(acts: Float[Tensor, "n d"], direction: Float[Tensor, " d"]) -> Float[Tensor, " n"]:
    """Cosine similarity of each activation with `direction`."""
    return torch.nn.functional.cosine_similarity(acts.double(), direction.double()[None], dim=-1)


def random_unit(d_model: int, *, seed: int) -> Float[Tensor, " d_model"]:
    """A seeded random unit vector: the same for every model of width `d_model` (a control direction)."""
    digest = hashlib.sha256(f"random-direction\x00{seed}\x00{d_model}".encode()).digest()
    gen = torch.Generator().manual_seed(int.from_bytes(digest[:8], "little") & (2**63 - 1))
    return unit(torch.randn(d_model, generator=gen))


@torch.no_grad()
def last_token_pass(model, prompts: Sequence[str], hook_name: str, *, batch_size: int = 32
                    ) -> tuple[Float[Tensor, "n d_model"], Float[Tensor, "n vocab"]]:
    """Each prompt's activation at `hook_name` and its next-token logits, both at its last real token."""
    acts, logits = [], []
    for chunk in batched(list(prompts), batch_size):
        tokens, lengths = model_inputs(model, chunk)
        store: dict[str, Tensor] = {}
        with intervene(model, [(hook_name, capture(store, positions=lengths - 1))]):
            out = model(tokens, return_type="logits")
        acts.append(store[hook_name].float().cpu())
        logits.append(gather_last(out, lengths).float().cpu())
    if not acts:
        return torch.zeros(0, model.cfg.d_model), torch.zeros(0, model.cfg.d_vocab_out)
    return torch.cat(acts), torch.cat(logits)
