"""The intervention vocabulary: hook functions, hook names, and a scoped `intervene` that counts fires.

Every strategy that edits or reads activations goes through here, so all of them patch the same
position the same way (for right-padded batches, each row's last real token is `lengths - 1`), and
a hook that silently never ran (a typo'd layer, a forward that stopped early) is an error, not a
quiet null result. Hook functions follow TransformerLens's `fn(activation, *, hook) -> Tensor | None`.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import torch
from jaxtyping import Float, Int
from torch import Tensor

from poser_interp.errors import PoserInputError

RESID_POINTS = ("pre", "mid", "post")


@runtime_checkable
class HookPointLike(Protocol):
    """What a hook function is handed: a TransformerLens `HookPoint` (or TransformerBridge's aliased view)."""

    name: str | None


HookFn = Callable[..., Tensor | None]


class HookDidNotFire(RuntimeError):
    """A hook registered by `intervene` was never called inside its context."""


# --- hook names -------------------------------------------------------------------------------


def block_hook(layer: int, point: str) -> str:
    """`blocks.{layer}.{point}`: the one place block hook names are spelled (e.g. `attn.hook_z`)."""
    if layer < 0:
        raise PoserInputError(f"layer must be >= 0, got {layer}")
    return f"blocks.{layer}.{point}"


def resid_name(layer: int, where: str = "pre") -> str:
    """The residual-stream hook name at `layer`: `where` is `pre`, `mid` or `post`."""
    if where not in RESID_POINTS:
        raise PoserInputError(f"residual position must be one of {', '.join(RESID_POINTS)}, got {where!r}")
    return block_hook(layer, f"hook_resid_{where}")


# --- tensor edits (module-level so jaxtyping ties every dimension across arguments) -------------


def _rows(x: Tensor) -> Int[Tensor, " batch"]:
    return torch.arange(x.shape[0], device=x.device)


def _select(activation: Float[Tensor, "batch pos *rest"], positions: Int[Tensor, " batch"]
            ) -> Float[Tensor, "batch *rest"]:
    """Each row's entry at its own position."""
    return activation[_rows(activation), positions.to(activation.device)]


def _add_vector(activation: Float[Tensor, "batch pos d_model"], vector: Float[Tensor, " d_model"],
                positions: Int[Tensor, " batch"] | None, scale: float) -> Float[Tensor, "batch pos d_model"]:
    delta = scale * vector.to(device=activation.device, dtype=activation.dtype)
    if positions is None:
        return activation + delta
    out = activation.clone()
    out[_rows(out), positions.to(out.device)] += delta
    return out


def _add_at(activation: Float[Tensor, "batch pos d_model"], delta: Float[Tensor, "batch d_model"],
            positions: Int[Tensor, " batch"]) -> Float[Tensor, "batch pos d_model"]:
    out = activation.clone()
    out[_rows(out), positions.to(out.device)] += delta.to(device=out.device, dtype=out.dtype)
    return out


def _add_all(activation: Float[Tensor, "batch pos d_model"], delta: Float[Tensor, "batch pos d_model"]
             ) -> Float[Tensor, "batch pos d_model"]:
    return activation + delta.to(device=activation.device, dtype=activation.dtype)


def _scale(activation: Float[Tensor, "batch pos *rest"], factor: float, positions: Int[Tensor, " batch"] | None
           ) -> Float[Tensor, "batch pos *rest"]:
    if positions is None:
        return activation * factor
    out = activation.clone()
    rows, pos = _rows(out), positions.to(out.device)
    out[rows, pos] = out[rows, pos] * factor
    return out


def _zero(activation: Float[Tensor, "batch pos *rest"], positions: Int[Tensor, " batch"] | None
          ) -> Float[Tensor, "batch pos *rest"]:
    """Exact zeros (not `* 0`, which keeps NaN and inf)."""
    if positions is None:
        return torch.zeros_like(activation)
    out = activation.clone()
    out[_rows(out), positions.to(out.device)] = 0.0
    return out


def _replace_at(activation: Float[Tensor, "batch pos *rest"], values: Float[Tensor, "batch *rest"],
                positions: Int[Tensor, " batch"]) -> Float[Tensor, "batch pos *rest"]:
    out = activation.clone()
    out[_rows(out), positions.to(out.device)] = values.to(device=out.device, dtype=out.dtype)
    return out


def _replace_all(activation: Float[Tensor, "batch pos *rest"], values: Float[Tensor, "batch pos *rest"]
                 ) -> Float[Tensor, "batch pos *rest"]:
    return values.to(device=activation.device, dtype=activation.dtype).clone()


# --- hook factories -----------------------------------------------------------------------------


def add_vector(vector: Float[Tensor, " d_model"], *, positions: Int[Tensor, " batch"] | None = None,
               scale: float = 1.0) -> HookFn:
    """Add `scale * vector` to a `[batch pos d_model]` activation at one position per row, or everywhere."""

    def hook(activation: Float[Tensor, "batch pos d_model"], *, hook: HookPointLike
             ) -> Float[Tensor, "batch pos d_model"]:
        return _add_vector(activation, vector, positions, scale)

    return hook


def add_noise(noise: Float[Tensor, "batch *pos d_model"], *, positions: Int[Tensor, " batch"] | None = None
              ) -> HookFn:
    """Add caller-drawn noise: `[batch d_model]` at one position per row, or `[batch pos d_model]` everywhere.

    The caller draws the noise (with its own `torch.Generator`), so the hook itself is deterministic.
    """
    if positions is not None and noise.ndim != 2:
        raise PoserInputError(f"add_noise with positions needs noise [batch d_model], got {tuple(noise.shape)}")
    if positions is None and noise.ndim != 3:
        raise PoserInputError(f"add_noise at all positions needs noise [batch pos d_model], got {tuple(noise.shape)}")

    def hook(activation: Float[Tensor, "batch pos d_model"], *, hook: HookPointLike
             ) -> Float[Tensor, "batch pos d_model"]:
        return _add_all(activation, noise) if positions is None else _add_at(activation, noise, positions)

    return hook


def scale(factor: float, *, positions: Int[Tensor, " batch"] | None = None) -> HookFn:
    """Multiply the activation by `factor` at one position per row, or everywhere (any `[batch pos ...]` point)."""

    def hook(activation: Float[Tensor, "batch pos *rest"], *, hook: HookPointLike) -> Float[Tensor, "batch pos *rest"]:
        return _scale(activation, factor, positions)

    return hook


def ablate(*, positions: Int[Tensor, " batch"] | None = None) -> HookFn:
    """Zero the activation at one position per row, or everywhere (any `[batch pos ...]` point)."""

    def hook(activation: Float[Tensor, "batch pos *rest"], *, hook: HookPointLike) -> Float[Tensor, "batch pos *rest"]:
        return _zero(activation, positions)

    return hook


def replace_with(values: Float[Tensor, "batch *rest"], *, positions: Int[Tensor, " batch"] | None = None) -> HookFn:
    """Overwrite the activation: `values [batch ...]` at one position per row, or `[batch pos ...]` everywhere."""

    def hook(activation: Float[Tensor, "batch pos *rest"], *, hook: HookPointLike) -> Float[Tensor, "batch pos *rest"]:
        if positions is None:
            return _replace_all(activation, values)
        return _replace_at(activation, values, positions)

    return hook


def capture(store: dict[str, Tensor], *, positions: Int[Tensor, " batch"] | None = None) -> HookFn:
    """Store a detached copy under `hook.name`: the whole activation, or `[batch ...]` at the given positions.

    A later fire at the same point overwrites the earlier one; the activation passes through unchanged.
    """

    def hook(activation: Float[Tensor, "batch pos *rest"], *, hook: HookPointLike) -> None:
        kept = activation if positions is None else _select(activation, positions)
        store[str(hook.name)] = kept.detach().clone()

    return hook


# --- scoped registration with fire counting --------------------------------------------------------


@dataclass
class FireLog:
    """How often each hook fired inside `intervene`, and the activation shapes it saw (per hook name)."""

    counts: dict[str, int] = field(default_factory=dict)
    shapes: dict[str, list[tuple[int, ...]]] = field(default_factory=dict)


def _unique_hook_points(model) -> list[Any]:
    """The model's hook points, each once (TransformerBridge's `hook_dict` lists aliases too)."""
    seen: dict[int, Any] = {}
    for point in model.hook_dict.values():
        seen.setdefault(id(point), point)
    return list(seen.values())


def active_hook_count(model) -> int:
    """Forward plus backward hooks currently registered on all of `model`'s hook points."""
    return sum(len(p.fwd_hooks) + len(p.bwd_hooks) for p in _unique_hook_points(model))


def _check_names(model, names: list[str]) -> None:
    valid = model.hook_dict
    for name in names:
        if name not in valid:
            near = difflib.get_close_matches(name, list(valid), n=3, cutoff=0.0)
            raise PoserInputError(f"unknown hook point {name!r}; valid names include {', '.join(near)}")


@contextmanager
def intervene(model, hooks: list[tuple[str, HookFn]], *, require_fire: bool = True) -> Iterator[FireLog]:
    """Register `hooks` for the duration of the block (TransformerLens's scoped `model.hooks`) and count fires.

    Unknown names fail before anything is registered. On normal exit, any hook that fired zero times
    raises `HookDidNotFire` (unless `require_fire=False`). Hooks are removed on every exit path.
    """
    _check_names(model, [name for name, _ in hooks])
    log = FireLog(counts={name: 0 for name, _ in hooks}, shapes={name: [] for name, _ in hooks})
    fired = [0] * len(hooks)  # per entry, so two hooks on one point are checked separately

    def counted(index: int, name: str, fn: HookFn) -> HookFn:
        def wrapper(activation, *, hook):
            fired[index] += 1
            log.counts[name] += 1
            log.shapes[name].append(tuple(activation.shape))
            return fn(activation, hook=hook)

        wrapper.__name__ = f"counted({getattr(fn, '__qualname__', repr(fn))})"
        return wrapper

    wrapped = [(name, counted(i, name, fn)) for i, (name, fn) in enumerate(hooks)]
    with model.hooks(fwd_hooks=wrapped):
        yield log
    if require_fire:
        silent = sorted({name for (name, _), n in zip(hooks, fired, strict=True) if n == 0})
        if silent:
            raise HookDidNotFire(f"hook(s) never fired inside intervene(): {', '.join(silent)}")
