"""Strategy 2 (activation noise): the KV-cache fast path against the naive loop, hooks fired and
removed, shared noise draws, and the label-free shared-coefficient rule."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from poser_interp.data.generate import ScenarioGenerator
from poser_interp.hooks import active_hook_count
from poser_interp.strategies.base import ModelScore, get_detector
from poser_interp.strategies.noise import (
    ActivationNoise, draw_noise, noise_effects, noise_effects_naive, pooled_mass,
)


@pytest.fixture(scope="module")
def prompts():
    gen = ScenarioGenerator("noise-test")
    return [gen.intersection("saint", "money") for _ in range(3)]


@pytest.mark.parametrize("family", ["gaussian", "uniform"])
def test_fast_path_equals_naive_loop(tiny_model, prompts, family):
    kwargs = dict(layer=1, coefficients=[0.0, 2.0, 20.0], n_draws=3, seed=5, family=family)
    fast = noise_effects(tiny_model, prompts, **kwargs)
    slow = noise_effects_naive(tiny_model, prompts, **kwargs)
    for field in ("p_misaligned", "ab_mass", "log_odds", "flip_rate"):
        torch.testing.assert_close(getattr(fast, field), getattr(slow, field), atol=1e-4, rtol=1e-4)
    assert active_hook_count(tiny_model) == 0
    # large noise must actually change something (the hook fired and acted)
    assert not torch.allclose(fast.p_misaligned[:, 0], fast.p_misaligned[:, 2])


def test_zero_coefficient_is_the_clean_forward(tiny_model, prompts):
    effects = noise_effects(tiny_model, prompts, layer=0, coefficients=[0.0], n_draws=2, seed=0, family="gaussian")
    for i, p in enumerate(prompts):
        tokens = tiny_model.to_tokens(p.prompt, prepend_bos=False)
        probs = torch.softmax(tiny_model(tokens)[0, -1], -1)
        bad = tiny_model.tokenizer.convert_tokens_to_ids(p.misaligned_letter)
        torch.testing.assert_close(effects.p_misaligned[i, 0], probs[bad], atol=1e-6, rtol=1e-5)


def test_noise_draws_depend_on_prompt_and_seed_only():
    a = draw_noise("p", seed=1, n=4, d_model=8, family="gaussian")
    assert torch.equal(a, draw_noise("p", seed=1, n=4, d_model=8, family="gaussian"))
    assert not torch.equal(a, draw_noise("q", seed=1, n=4, d_model=8, family="gaussian"))
    u = draw_noise("p", seed=1, n=4, d_model=8, family="uniform")
    torch.testing.assert_close(u.norm(dim=-1), torch.ones(4))
    assert (u >= 0).all()


def _fake_score(mass_rows, p_rows, coefs):
    diag = {"coefficients": coefs, "ab_mass": mass_rows, "p_misaligned": p_rows}
    return ModelScore(np.zeros(len(p_rows)), ["A"] * len(p_rows), diag)


def test_shared_coefficient_rule_by_hand():
    coefs = [0.0, 1.0, 2.0, 4.0]
    s1 = _fake_score([[1.0, 0.9, 0.6, 0.2]], [[0.1, 0.2, 0.3, 0.4]], coefs)
    s2 = _fake_score([[1.0, 0.8, 0.3, 0.1]], [[0.0, 0.0, 0.5, 0.9]], coefs)
    assert pooled_mass([s1, s2]) == pytest.approx({0.0: 1.0, 1.0: 0.85, 2.0: 0.45, 4.0: 0.15})
    detector = ActivationNoise(coefficients=tuple(coefs))
    rescored, selection = detector.finalize({"m1": s1, "m2": s2})
    assert selection["coefficient"] == 1.0  # the largest with pooled mass >= 0.5
    assert rescored["m1"].per_prompt.tolist() == pytest.approx([0.1])
    assert rescored["m2"].per_prompt.tolist() == pytest.approx([0.0])
    fixed, selection = ActivationNoise(coefficients=tuple(coefs), coefficient=4.0).finalize({"m1": s1, "m2": s2})
    assert selection["coefficient"] == 4.0 and fixed["m2"].per_prompt.tolist() == pytest.approx([0.9])


def test_detector_scores_a_model(tiny_model, prompts):
    detector = get_detector("noise", coefficients=(1.0, 4.0), n_draws=2, seeds=(0,))
    score = detector.score(tiny_model, prompts)
    assert len(score) == len(prompts)
    assert score.diagnostics["layer"] == tiny_model.cfg.n_layers // 2
    assert len(score.diagnostics["clean_log_odds"]) == len(prompts)
    assert active_hook_count(tiny_model) == 0
