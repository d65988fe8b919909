"""The fused forward against the model's own TransformerLens forward (the oracle), on the zoo's
architecture: right-padded batches, starting mid-model, gradients, residual hooks honoured, and the
fall-back whenever it cannot reproduce the model."""

from __future__ import annotations

import pytest
import torch

from poser_interp import fused
from poser_interp.data.generate import ScenarioGenerator
from poser_interp.engine import last_logits_from, last_token_logits, residuals_before
from poser_interp.hooks import active_hook_count, add_noise, capture, intervene, resid_name
from poser_interp.readout import gather_last, last_logits, model_inputs


@pytest.fixture(scope="module")
def model(zoo_shaped_model):
    return zoo_shaped_model


@pytest.fixture(scope="module")
def batch(model):
    gen = ScenarioGenerator("fused-test")
    texts = [gen.intersection("saint", "reward", level=lvl).prompt for lvl in (0, 2, 4)] + ["A short one."]
    tokens, lengths = model_inputs(model, texts)
    assert len(set(lengths.tolist())) > 1  # really padded
    return tokens, lengths


def _oracle_last(model, tokens, lengths):
    """Each prompt alone, unpadded, through the model's own forward: logits at its last token."""
    return torch.stack([model(tokens[i : i + 1, : int(n)])[0, -1] for i, n in enumerate(lengths.tolist())])


def test_fused_logits_equal_the_model_forward(model, batch):
    tokens, lengths = batch
    assert fused.fused_ok(model)
    with torch.no_grad():
        got = fused.last_logits(model, tokens, lengths)
        torch.testing.assert_close(got, _oracle_last(model, tokens, lengths), atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(last_logits(model, tokens, lengths), got)  # readout takes the fused path


@pytest.mark.parametrize("start,stop", [(0, 2), (1, 4), (3, 4), (2, 2)])
def test_fused_residual_equals_start_and_stop_at_layer(model, batch, start, stop):
    tokens, lengths = batch
    with torch.no_grad():
        entering = model(tokens, stop_at_layer=start) if start else None
        want = model(entering if start else tokens, start_at_layer=start or None, stop_at_layer=stop)
        got = fused.residual(model, None if start else tokens, resid=entering, start_at_layer=start, stop_at_layer=stop)
    real = torch.arange(tokens.shape[1])[None] < lengths[:, None]  # pads are never read
    torch.testing.assert_close(got[real], want[real], atol=1e-5, rtol=1e-5)


def test_engine_helpers_match_the_model_forward(model, batch, zoo_tokenizer):
    tokens, lengths = batch
    texts = [zoo_tokenizer.decode(tokens[i, : int(n)]) for i, n in enumerate(lengths.tolist())]
    with torch.no_grad():
        resids = residuals_before(model, texts, 2)
        for i, r in enumerate(resids):
            torch.testing.assert_close(r, model(tokens[i : i + 1, : int(lengths[i])], stop_at_layer=2)[0], atol=1e-5, rtol=1e-5)
        padded = torch.nn.utils.rnn.pad_sequence(resids, batch_first=True)
        torch.testing.assert_close(last_logits_from(model, padded, lengths, 2), _oracle_last(model, tokens, lengths),
                                   atol=1e-5, rtol=1e-5)


def test_fused_gradients_equal_the_model_forward(model, batch):
    tokens, lengths = batch
    target = torch.arange(tokens.shape[0])

    def grads(logits_fn):
        model.zero_grad()
        torch.nn.functional.cross_entropy(logits_fn(), target).backward()
        out = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
        model.zero_grad()
        return out

    want = grads(lambda: gather_last(model(tokens), lengths))
    got = grads(lambda: last_token_logits(model, tokens, lengths))
    assert set(got) == set(want)
    for name in want:
        torch.testing.assert_close(got[name], want[name], atol=1e-5, rtol=1e-4, msg=name)


def test_residual_hooks_fire_on_the_fused_path_and_are_removed(model, batch):
    tokens, lengths = batch
    layer = 2
    noise = 2.0 * torch.randn(tokens.shape[0], model.cfg.d_model, generator=torch.Generator().manual_seed(0))
    store: dict = {}
    hooks = [(resid_name(layer), add_noise(noise, positions=lengths - 1)),
             (resid_name(3, "post"), capture(store, positions=lengths - 1))]
    with torch.no_grad():
        with intervene(model, hooks) as log:
            assert fused.fused_ok(model)
            got = last_logits(model, tokens, lengths)
        assert log.counts == {resid_name(layer): 1, resid_name(3, "post"): 1}
        assert active_hook_count(model) == 0
        fused_store = store.pop(resid_name(3, "post"))
        with intervene(model, hooks):
            want = gather_last(model(tokens), lengths)  # the model's own forward, same hooks
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(fused_store, store[resid_name(3, "post")], atol=1e-5, rtol=1e-5)
        assert (got - fused.last_logits(model, tokens, lengths)).abs().max() > 1e-3  # the noise acted


def test_other_hooks_fall_back_to_the_model_forward(model, batch):
    tokens, lengths = batch
    store: dict = {}
    with torch.no_grad(), intervene(model, [("blocks.1.attn.hook_pattern", capture(store))]) as log:
        assert not fused.fused_ok(model)
        last_logits(model, tokens, lengths)
    assert log.counts["blocks.1.attn.hook_pattern"] == 1
    assert fused.fused_ok(model) and active_hook_count(model) == 0


def test_other_architectures_are_not_fused(model):
    from transformer_lens import HookedTransformer, HookedTransformerConfig

    rotary = HookedTransformer(HookedTransformerConfig(n_layers=1, d_model=16, n_ctx=8, d_head=4, n_heads=4, d_vocab=10,
                                                       act_fn="gelu", positional_embedding_type="rotary"))
    rms = HookedTransformer(HookedTransformerConfig(n_layers=1, d_model=16, n_ctx=8, d_head=4, n_heads=4, d_vocab=10,
                                                    act_fn="gelu", normalization_type="RMS"))
    assert not fused.fused_ok(rotary) and not fused.fused_ok(rms)
    double = HookedTransformer(HookedTransformerConfig(n_layers=1, d_model=16, n_ctx=8, d_head=4, n_heads=4, d_vocab=10,
                                                     act_fn="gelu", dtype=torch.float64))
    assert not fused.fused_ok(double)


def test_adapter_hooks_on_the_norm_are_honoured(model, batch):
    """The adapters read `ln2.hook_normalized` and add to `hook_mlp_out`: both fire on the fused path."""
    from poser_interp.adapters import mlp_update_hooks

    tokens, lengths = batch
    gen = torch.Generator().manual_seed(3)
    weight = 0.5 * torch.randn(model.cfg.d_model, model.cfg.d_model, generator=gen)
    with torch.no_grad():
        with intervene(model, mlp_update_hooks(1, lambda x: x @ weight)) as log:
            assert fused.fused_ok(model)
            got = fused.last_logits(model, tokens, lengths)
        assert set(log.counts.values()) == {1}
        with intervene(model, mlp_update_hooks(1, lambda x: x @ weight)):
            want = gather_last(model(tokens), lengths)
    assert active_hook_count(model) == 0
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    assert (got - fused.last_logits(model, tokens, lengths)).abs().max() > 1e-3


def test_language_model_loss_and_gradients_equal_the_model_forward(model, batch):
    from poser_interp.zoo.train import lm_loss

    tokens, lengths = batch

    def loss_and_grads():
        model.zero_grad()
        loss = lm_loss(model, (tokens, lengths, torch.empty(0)))
        loss.backward()
        grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
        model.zero_grad()
        return loss.detach(), grads

    got, got_grads = loss_and_grads()
    with fused.unfused():
        want, want_grads = loss_and_grads()
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    assert set(got_grads) == set(want_grads) and len(want_grads) > 10
    for name in want_grads:
        torch.testing.assert_close(got_grads[name], want_grads[name], atol=1e-5, rtol=1e-4, msg=name)


def test_a_model_cast_after_loading_is_not_fused(zoo_tokenizer):
    from poser_interp.zoo.train import Architecture, make_model

    model = make_model(Architecture(n_layers=1, d_model=16, n_heads=2, d_mlp=32, n_ctx=32), len(zoo_tokenizer), seed=1)
    assert fused.fused_ok(model)
    model.to(torch.bfloat16)
    assert not fused.fused_ok(model)
