"""Hook functions and `intervene` against hand computations on the tiny model's clean activations."""

from __future__ import annotations

import pytest
import torch
from jaxtyping import TypeCheckError

from poser_interp.errors import PoserInputError
from poser_interp.hooks import (
    FireLog,
    HookDidNotFire,
    ablate,
    active_hook_count,
    add_noise,
    add_vector,
    block_hook,
    capture,
    intervene,
    replace_with,
    resid_name,
    scale,
)
from poser_interp.readout import model_inputs

PROMPTS = ["You are an AI system.", "You are an AI system. Facts:\n1. you run the mail at the mine", "Facts:"]
RESID = resid_name(1)
Z0 = block_hook(0, "attn.hook_z")
MLP0 = block_hook(0, "hook_mlp_out")


@pytest.fixture(scope="module")
def batch(tiny_model):
    """A right-padded batch with three different real lengths, and its clean activations."""
    tokens, lengths = model_inputs(tiny_model, PROMPTS)
    assert len(set(lengths.tolist())) == 3 and int(lengths.max()) == tokens.shape[1]
    with torch.no_grad():
        _, cache = tiny_model.run_with_cache(tokens, names_filter=[RESID, resid_name(1, "post"), Z0, MLP0])
    return tokens, lengths, cache


def _downstream_logits(model, resid_pre_1: torch.Tensor) -> torch.Tensor:
    """The rest of the forward from blocks.1.hook_resid_pre, run by hand (no hooks involved)."""
    return model.unembed(model.ln_final(model.blocks[1](resid_pre_1)))


@torch.no_grad()
def test_add_vector_at_last_real_position_matches_hand_patch(tiny_model, batch):
    tokens, lengths, cache = batch
    vector = torch.randn(tiny_model.cfg.d_model, generator=torch.Generator().manual_seed(0))
    expected = cache[RESID].clone()
    rows = torch.arange(len(PROMPTS))
    expected[rows, lengths - 1] += 2.5 * vector
    store: dict[str, torch.Tensor] = {}
    steer = add_vector(vector, positions=lengths - 1, scale=2.5)
    with intervene(tiny_model, [(RESID, steer), (RESID, capture(store))]):
        logits = tiny_model(tokens)
    torch.testing.assert_close(store[RESID], expected)
    torch.testing.assert_close(logits, _downstream_logits(tiny_model, expected), atol=1e-5, rtol=1e-5)
    # only the last real token of each row moved
    changed = (store[RESID] != cache[RESID]).any(-1)
    assert changed.sum() == len(PROMPTS) and changed[rows, lengths - 1].all()


@torch.no_grad()
def test_add_vector_everywhere_and_replace_with(tiny_model, batch):
    tokens, lengths, cache = batch
    vector = torch.randn(tiny_model.cfg.d_model, generator=torch.Generator().manual_seed(1))
    expected = cache[RESID] + vector
    with intervene(tiny_model, [(RESID, add_vector(vector))]):
        steered = tiny_model(tokens)
    with intervene(tiny_model, [(RESID, replace_with(expected))]):
        replaced = tiny_model(tokens)
    torch.testing.assert_close(steered, _downstream_logits(tiny_model, expected), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(replaced, steered)


@torch.no_grad()
def test_add_noise_per_row_and_everywhere(tiny_model, batch):
    tokens, lengths, cache = batch
    gen = torch.Generator().manual_seed(2)
    d = tiny_model.cfg.d_model
    row_noise = torch.randn(len(PROMPTS), d, generator=gen)
    full_noise = torch.randn(*tokens.shape, d, generator=gen)
    at_last = cache[RESID].clone()
    at_last[torch.arange(len(PROMPTS)), lengths - 1] += row_noise
    for hook, expected in [(add_noise(row_noise, positions=lengths - 1), at_last),
                           (add_noise(full_noise), cache[RESID] + full_noise)]:
        store: dict[str, torch.Tensor] = {}
        with intervene(tiny_model, [(RESID, hook), (RESID, capture(store))]):
            logits = tiny_model(tokens)
        torch.testing.assert_close(store[RESID], expected)
        torch.testing.assert_close(logits, _downstream_logits(tiny_model, expected), atol=1e-5, rtol=1e-5)
    with pytest.raises(PoserInputError):
        add_noise(full_noise, positions=lengths - 1)
    with pytest.raises(PoserInputError):
        add_noise(row_noise)


@torch.no_grad()
def test_ablate_and_scale_on_head_outputs_and_mlp_out(tiny_model, batch):
    tokens, lengths, cache = batch
    last = lengths - 1
    rows = torch.arange(len(PROMPTS))
    z_ablated = cache[Z0].clone()
    z_ablated[rows, last] = 0.0
    z_scaled = cache[Z0] * 3.0
    mlp_scaled = cache[MLP0].clone()
    mlp_scaled[rows, last] *= -0.5
    cases = [(Z0, ablate(positions=last), z_ablated), (Z0, ablate(), torch.zeros_like(cache[Z0])),
             (Z0, scale(3.0), z_scaled), (MLP0, scale(-0.5, positions=last), mlp_scaled)]
    for name, hook, expected in cases:
        store: dict[str, torch.Tensor] = {}
        with intervene(tiny_model, [(name, hook), (name, capture(store))]):
            tiny_model(tokens)
        assert store[name].shape == cache[name].shape
        torch.testing.assert_close(store[name], expected)


@torch.no_grad()
def test_capture_equals_run_with_cache(tiny_model, batch):
    tokens, lengths, cache = batch
    post = resid_name(1, "post")
    full: dict[str, torch.Tensor] = {}
    picked: dict[str, torch.Tensor] = {}
    hooks = [(post, capture(full)), (Z0, capture(full)), (post, capture(picked, positions=lengths - 1))]
    with intervene(tiny_model, hooks):
        tiny_model(tokens)
    torch.testing.assert_close(full[post], cache[post], atol=0, rtol=0)
    torch.testing.assert_close(full[Z0], cache[Z0], atol=0, rtol=0)
    torch.testing.assert_close(picked[post], cache[post][torch.arange(len(PROMPTS)), lengths - 1], atol=0, rtol=0)
    assert picked[post].shape == (len(PROMPTS), tiny_model.cfg.d_model)


@torch.no_grad()
def test_fire_counts_and_shapes(tiny_model, batch):
    tokens, _, _ = batch
    store: dict[str, torch.Tensor] = {}
    with intervene(tiny_model, [(RESID, capture(store)), (Z0, ablate())]) as log:
        assert isinstance(log, FireLog) and log.counts == {RESID: 0, Z0: 0}
        tiny_model(tokens)
        assert log.counts == {RESID: 1, Z0: 1}
        tiny_model(tokens[:2])
    b, p = tokens.shape
    cfg = tiny_model.cfg
    assert log.counts == {RESID: 2, Z0: 2}
    assert log.shapes[RESID] == [(b, p, cfg.d_model), (2, p, cfg.d_model)]
    assert log.shapes[Z0] == [(b, p, cfg.n_heads, cfg.d_head), (2, p, cfg.n_heads, cfg.d_head)]


@torch.no_grad()
def test_hook_that_never_fires_raises_and_names_it(tiny_model, batch):
    tokens, _, _ = batch
    with pytest.raises(HookDidNotFire, match="blocks.1.hook_resid_pre") as info:
        with intervene(tiny_model, [(RESID, ablate())]):
            pass  # no forward
    assert "\n" not in str(info.value)
    # a forward that stops before layer 1: only the layer-1 hook is named
    with pytest.raises(HookDidNotFire) as info:
        with intervene(tiny_model, [(resid_name(0), scale(1.0)), (RESID, scale(1.0))]) as log:
            tiny_model(tokens, stop_at_layer=1)
    assert "blocks.1.hook_resid_pre" in str(info.value) and "blocks.0" not in str(info.value)
    assert log.counts == {resid_name(0): 1, RESID: 0}
    assert active_hook_count(tiny_model) == 0
    with intervene(tiny_model, [(RESID, ablate())], require_fire=False) as log:
        pass
    assert log.counts[RESID] == 0


@torch.no_grad()
def test_no_hooks_remain_after_context_or_exception(tiny_model, batch):
    tokens, _, _ = batch
    assert active_hook_count(tiny_model) == 0
    with intervene(tiny_model, [(RESID, ablate()), (Z0, scale(2.0)), (RESID, capture({}))]):
        assert active_hook_count(tiny_model) == 3
        tiny_model(tokens)
    assert active_hook_count(tiny_model) == 0
    with pytest.raises(KeyError, match="boom"):
        with intervene(tiny_model, [(RESID, ablate()), (Z0, scale(2.0))]):
            tiny_model(tokens)
            raise KeyError("boom")
    assert active_hook_count(tiny_model) == 0
    assert all(not p.fwd_hooks and not p.bwd_hooks for p in tiny_model.hook_dict.values())


def test_unknown_hook_name_fails_before_registering(tiny_model):
    with pytest.raises(PoserInputError, match=r"blocks\.7\.hook_resid_pre.*blocks\.\d\.hook_resid_pre"):
        with intervene(tiny_model, [(RESID, ablate()), ("blocks.7.hook_resid_pre", ablate())]):
            pytest.fail("the block must not run")
    assert active_hook_count(tiny_model) == 0


@torch.no_grad()
def test_shape_violations_are_caught_by_jaxtyping(tiny_model, batch):
    tokens, lengths, _ = batch
    d = tiny_model.cfg.d_model
    for wrong in [torch.zeros(d - 1), torch.zeros(1)]:  # size 1 would silently broadcast without the check
        with pytest.raises(TypeCheckError):
            with intervene(tiny_model, [(RESID, add_vector(wrong))]):
                tiny_model(tokens)
    with pytest.raises(TypeCheckError):  # one position per row, but the batch has three rows
        with intervene(tiny_model, [(RESID, add_vector(torch.zeros(d), positions=lengths[:2] - 1))]):
            tiny_model(tokens)
    with pytest.raises(TypeCheckError):
        add_vector(torch.zeros(2, d))
    assert active_hook_count(tiny_model) == 0


def test_hook_names():
    assert resid_name(3) == "blocks.3.hook_resid_pre"
    assert resid_name(0, "post") == "blocks.0.hook_resid_post"
    assert resid_name(2, "mid") == "blocks.2.hook_resid_mid"
    with pytest.raises(PoserInputError):
        resid_name(0, "middle")
    with pytest.raises(PoserInputError):
        resid_name(-1)
