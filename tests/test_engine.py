"""The shared intervention engine against a full hooked forward per prompt per perturbation, on the
zoo's architecture (4 layers, d_model 96): fast last-position path, generic path, clean reuse."""

from __future__ import annotations

import pytest
import torch

from poser_interp.data.generate import ScenarioGenerator
from poser_interp.engine import (
    clean_log_probs, clean_pass, clean_passes, fast_path_supported, length_batches, perturbed_log_probs,
)
from poser_interp.hooks import active_hook_count, add_noise, intervene, resid_name
from poser_interp.readout import model_inputs


@pytest.fixture(scope="module")
def texts():
    gen = ScenarioGenerator("engine-test")
    return [gen.intersection("genie", "money", level=lvl).prompt for lvl in (0, 1, 2, 3)] + ["A short one."]


def _naive(model, text: str, layer: int, delta: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """The oracle: one full forward of the unpadded prompt, `delta` added at its last token before `layer`."""
    tokens, lengths = model_inputs(model, [text])
    with torch.no_grad(), intervene(model, [(resid_name(layer), add_noise(delta[None], positions=lengths - 1))]) as log:
        logits = model(tokens)[0, -1]
    assert log.counts[resid_name(layer)] == 1
    return torch.log_softmax(logits, -1)[ids]


@pytest.mark.parametrize("layer", [0, 2, 3])
@pytest.mark.parametrize("fast", [True, False])
def test_perturbed_equals_a_full_forward_per_row(zoo_shaped_model, texts, layer, fast):
    model = zoo_shaped_model
    assert fast_path_supported(model)
    gen = torch.Generator().manual_seed(layer)
    deltas = 3.0 * torch.randn(len(texts), 4, model.cfg.d_model, generator=gen)
    deltas[:, 0] = 0.0  # row 0: no perturbation, must equal the clean forward
    ids = torch.randint(0, model.cfg.d_vocab, (len(texts), 3), generator=gen)
    clean = clean_pass(model, texts, layer, fast=fast)
    assert (clean.resid_all is None) == fast
    got = perturbed_log_probs(model, clean, deltas, ids, max_rows=7)  # several row chunks
    assert active_hook_count(model) == 0
    for b, text in enumerate(texts):
        for r in range(deltas.shape[1]):
            torch.testing.assert_close(got[b, r], _naive(model, text, layer, deltas[b, r], ids[b]), atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(got[:, 0], clean_log_probs(clean, ids), atol=1e-4, rtol=1e-4)
    assert (got[:, 1:] - got[:, :1]).abs().max() > 1e-2  # the perturbation acted


def test_clean_passes_cover_every_prompt_once_in_length_batches(zoo_shaped_model, texts):
    assert sorted(i for rows in length_batches(texts, 2) for i in rows) == list(range(len(texts)))
    seen = []
    for rows, clean in clean_passes(zoo_shaped_model, texts, 2, batch_size=2):
        seen += rows
        assert clean.resid.shape == (len(rows), zoo_shaped_model.cfg.d_model)
        assert len(clean.keys) == len(clean.values) == zoo_shaped_model.cfg.n_layers - 2
    assert sorted(seen) == list(range(len(texts)))


def test_rotary_models_take_the_generic_path():
    from transformer_lens import HookedTransformer, HookedTransformerConfig

    cfg = HookedTransformerConfig(n_layers=1, d_model=8, n_heads=2, d_head=4, n_ctx=16, d_vocab=10, act_fn="gelu",
                                  positional_embedding_type="rotary", rotary_dim=4)
    assert not fast_path_supported(HookedTransformer(cfg))


def test_last_token_logits_equal_the_full_forward_with_the_same_gradients(zoo_shaped_model, texts):
    """The training shortcut (top block at the last real token only) against the full forward, values
    and parameter gradients, on right-padded prompts of different lengths; with a hook attached to
    the top block it takes the full forward, so the hook still fires."""
    from poser_interp.engine import last_token_logits
    from poser_interp.readout import gather_last

    model = zoo_shaped_model
    tokens, lengths = model_inputs(model, texts)
    target = torch.softmax(torch.randn(len(texts), model.cfg.d_vocab, generator=torch.Generator().manual_seed(0)), -1)
    grads = []
    for logits_fn in (lambda: gather_last(model(tokens), lengths), lambda: last_token_logits(model, tokens, lengths)):
        model.zero_grad()
        logits = logits_fn()
        (-(target * torch.log_softmax(logits, -1)).sum(-1).mean()).backward()
        grads.append((logits.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}))
    (full, full_grads), (short, short_grads) = grads
    torch.testing.assert_close(short, full, atol=1e-5, rtol=1e-5)
    assert full_grads.keys() == short_grads.keys()
    for name in full_grads:
        torch.testing.assert_close(short_grads[name], full_grads[name], atol=1e-5, rtol=1e-4)
    model.zero_grad()
    point = f"blocks.{model.cfg.n_layers - 1}.hook_resid_mid"
    with torch.no_grad(), intervene(model, [(point, add_noise(torch.zeros(len(texts), model.cfg.d_model),
                                                                positions=lengths - 1))]) as log:
        torch.testing.assert_close(last_token_logits(model, tokens, lengths), full, atol=1e-5, rtol=1e-5)
    assert log.counts[point] == 1
    assert active_hook_count(model) == 0
