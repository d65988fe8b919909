"""Strategy 3 (learning speed): the adapter against a plain PyTorch LoRA, exact identity at init, loss
falls, the model is restored after training, folds are model-independent, runs are deterministic."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from poser_interp.adapters import LowRankAdapter
from poser_interp.data.generate import ScenarioGenerator
from poser_interp.finetune import letter_batches, letter_probs, restored, run_training, soft_answer_loss
from poser_interp.hooks import active_hook_count, intervene
from poser_interp.readout import model_inputs
from poser_interp.strategies.base import get_detector
from poser_interp.strategies.learning_speed import LearningSpeed, area_above_start, fold_of, learning_curves


@pytest.fixture(scope="module")
def prompts():
    gen = ScenarioGenerator("learning-speed-test")
    return [gen.intersection("saint", "money", level=lvl) for lvl in (0, 1, 2, 0, 1, 2)]


@pytest.fixture()
def model(tiny_model):
    return copy.deepcopy(tiny_model)  # these tests train: never touch the shared fixture


def _logits(model, texts):
    tokens, _ = model_inputs(model, texts)
    return model(tokens)


def test_adapter_at_init_leaves_outputs_exactly_unchanged(model, prompts):
    texts = [p.prompt for p in prompts]
    adapter = LowRankAdapter(model.cfg.d_model, model.cfg.d_model, rank=8, seed=0)
    with torch.no_grad():
        clean = _logits(model, texts)
        with intervene(model, adapter.hooks(1)) as log:
            adapted = _logits(model, texts)
    assert torch.equal(clean, adapted)
    assert all(n == 1 for n in log.counts.values())
    assert active_hook_count(model) == 0


def test_adapter_matches_a_plain_pytorch_lora_on_the_mlp(model, prompts):
    """Oracle: a torch forward hook on the MLP module adding input @ A @ B to its output."""
    texts = [p.prompt for p in prompts]
    adapter = LowRankAdapter(model.cfg.d_model, model.cfg.d_model, rank=4, seed=1)
    with torch.no_grad():
        adapter.B.copy_(torch.randn(4, model.cfg.d_model, generator=torch.Generator().manual_seed(2)))
        with intervene(model, adapter.hooks(0)):
            ours = _logits(model, texts)
        handle = model.blocks[0].mlp.register_forward_hook(lambda mod, args, out: out + args[0] @ adapter.A @ adapter.B)
        try:
            oracle = _logits(model, texts)
        finally:
            handle.remove()
        clean = _logits(model, texts)
    torch.testing.assert_close(ours, oracle, atol=1e-5, rtol=1e-4)
    assert not torch.allclose(ours, clean)  # the update did something


def test_adapter_training_lowers_the_loss_and_only_moves_the_adapter(model, prompts):
    texts, letters = [p.prompt for p in prompts], [p.misaligned_letter for p in prompts]
    before = {k: v.clone() for k, v in model.state_dict().items()}
    adapter = LowRankAdapter(model.cfg.d_model, model.cfg.d_model, rank=8, seed=0)
    with restored(model):
        for p in model.parameters():
            p.requires_grad_(False)
        with intervene(model, adapter.hooks(1)):
            losses = run_training(model, letter_batches(model, texts, letters, batch_size=6, seed=0), soft_answer_loss,
                                  steps=30, lr=3e-2, warmup=1, decay=False, weight_decay=0.0, progress=False,
                                  params=list(adapter.parameters()))
    assert losses[-1] < 0.5 * losses[0]
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert adapter.B.abs().sum() > 0
    assert active_hook_count(model) == 0


def test_full_finetuning_curves_restore_the_model_and_rise(model, prompts):
    before = {k: v.clone() for k, v in model.state_dict().items()}
    flags = [p.requires_grad for p in model.parameters()]
    curves = learning_curves(model, prompts, variant="full", steps=6, lr=1e-2, folds=2, batch_size=3, seed=0,
                             layer=1, rank=8)
    assert curves.shape == (len(prompts), 7)
    # Step 0 is the untouched model's P(misaligned), computed independently here.
    clean = letter_probs(model, [p.prompt for p in prompts], [p.misaligned_letter for p in prompts])
    torch.testing.assert_close(curves[:, 0], clean)
    assert curves[:, -1].mean() > curves[:, 0].mean()
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert [p.requires_grad for p in model.parameters()] == flags
    assert active_hook_count(model) == 0


def test_folds_are_balanced_seeded_and_independent_of_the_model():
    fold = fold_of(7, 2, seed=0)
    assert sorted(torch.bincount(fold).tolist()) == [3, 4]
    assert torch.equal(fold, fold_of(7, 2, seed=0)) and not torch.equal(fold_of(40, 2, seed=0), fold_of(40, 2, seed=1))
    with pytest.raises(ValueError):
        fold_of(1, 2, seed=0)


def test_area_above_start_by_hand():
    curves = torch.tensor([[0.1, 0.2, 0.4], [0.5, 0.5, 0.2]])
    np.testing.assert_allclose(area_above_start(curves), [(0.1 + 0.3) / 2, (0.0 - 0.3) / 2], atol=1e-7)


def test_score_is_deterministic_and_reports_both_variants(model, prompts):
    detector = get_detector("learning-speed", steps=4, batch_size=3)
    assert isinstance(detector, LearningSpeed)
    first, second = detector.score(model, prompts), detector.score(model, prompts)
    assert first == second
    assert len(first) == len(prompts) and len(first.diagnostics["variants"]["full"]) == len(prompts)
    assert np.asarray(first.diagnostics["p_misaligned_adapter"]).shape == (len(prompts), 3)  # steps 0, 2, 4
    assert first.diagnostics["steps"] == [0, 2, 4]
    assert set(first.greedy) <= {"A", "B"}
    assert active_hook_count(model) == 0


def test_reading_the_curve_every_two_steps_matches_every_step(model, prompts):
    kwargs = dict(variant="adapter", steps=4, lr=3e-2, folds=2, batch_size=3, seed=0, layer=1, rank=8)
    every = learning_curves(model, prompts, eval_every=1, **kwargs)
    sparse = learning_curves(model, prompts, eval_every=2, **kwargs)
    torch.testing.assert_close(sparse, every[:, ::2])


def test_letter_probs_matches_one_prompt_at_a_time(model, prompts):
    texts, letters = [p.prompt for p in prompts], [p.misaligned_letter for p in prompts]
    batched = letter_probs(model, texts, letters, batch_size=4)
    with torch.no_grad():
        naive = torch.stack([torch.softmax(_logits(model, [t])[0, -1], -1)[model.tokenizer.convert_tokens_to_ids(x)]
                             for t, x in zip(texts, letters, strict=True)])
    torch.testing.assert_close(batched, naive, atol=1e-5, rtol=1e-4)


def _legacy():
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import legacy

    return legacy


@pytest.mark.parametrize("layer", [0, 1])
def test_stacked_folds_equal_training_each_fold_alone(model, prompts, layer):
    """Oracle: the per-fold loop on full forwards (one LowRankAdapter per fold, trained alone)."""
    kwargs = dict(variant="adapter", steps=6, lr=3e-2, folds=3, batch_size=2, seed=4, layer=layer, rank=4, eval_every=2)
    stacked = learning_curves(model, prompts, **kwargs)
    alone = _legacy().learning_curves(model, prompts, **kwargs)
    torch.testing.assert_close(stacked, alone, atol=1e-4, rtol=1e-4)
    assert (stacked[:, -1] - stacked[:, 0]).abs().max() > 1e-3  # training moved the curves
    assert active_hook_count(model) == 0


def test_stacked_adapters_clip_each_adapter_like_clip_grad_norm(model):
    from poser_interp.adapters import StackedAdapters

    stack = StackedAdapters(8, 8, rank=2, seeds=[0, 1])
    gen = torch.Generator().manual_seed(0)
    stack.A.grad = torch.randn(2, 8, 2, generator=gen) * torch.tensor([5.0, 0.01])[:, None, None]
    stack.B.grad = torch.randn(2, 2, 8, generator=gen)
    singles = [(stack.A.grad[k].clone().requires_grad_(), stack.B.grad[k].clone().requires_grad_()) for k in range(2)]
    for a, b in singles:
        a.grad, b.grad = a.detach().clone(), b.detach().clone()
        torch.nn.utils.clip_grad_norm_([a, b], 1.0)
    stack.clip_(1.0)
    for k, (a, b) in enumerate(singles):
        torch.testing.assert_close(stack.A.grad[k], a.grad)
        torch.testing.assert_close(stack.B.grad[k], b.grad)
    torch.testing.assert_close(stack.A[1], LowRankAdapter(8, 8, rank=2, seed=1).A.detach())
