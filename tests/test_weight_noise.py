"""Weight noise: bit-exact restore (also after an exception), noise of the documented relative scale,
the sweep against a deep copy noised by hand (output by output), and strategy 2's label-free rule."""

from __future__ import annotations

import copy
import hashlib

import numpy as np
import pytest
import torch

from poser_interp.data.generate import ScenarioGenerator
from poser_interp.errors import PoserInputError
from poser_interp.hooks import active_hook_count
from poser_interp.strategies.base import ModelScore, get_detector
from poser_interp.strategies.noise import ActivationNoise
from poser_interp.strategies.weight_noise import WeightNoise, noisy_weights, weight_noise_sweep


@pytest.fixture(scope="module")
def model(tiny_model):
    return copy.deepcopy(tiny_model)  # this module perturbs weights: never the shared fixture itself


@pytest.fixture(scope="module")
def prompts():
    gen = ScenarioGenerator("weight-noise-test")
    return [gen.intersection("genie", "reward") for _ in range(3)]


def _snapshot(model) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in model.named_parameters()}


def _bit_identical(model, snapshot) -> bool:
    return all(torch.equal(p, snapshot[n]) and p.dtype == snapshot[n].dtype for n, p in model.named_parameters())


def test_weights_are_bit_identical_afterwards_also_after_an_exception(model, prompts):
    before = _snapshot(model)
    with noisy_weights(model, 0.3, seed=1):
        assert not _bit_identical(model, before)
    assert _bit_identical(model, before)
    with pytest.raises(RuntimeError, match="inside the block"):
        with noisy_weights(model, 0.3, seed=1):
            assert not _bit_identical(model, before)
            raise RuntimeError("inside the block")
    assert _bit_identical(model, before)
    WeightNoise(sigmas=(0.1, 0.5), seeds=(0, 1)).score(model, prompts)
    assert _bit_identical(model, before) and active_hook_count(model) == 0


def test_noise_std_is_sigma_times_each_tensors_rms(model):
    before = _snapshot(model)
    with noisy_weights(model, 0.2, seed=3):
        noise = {n: (p.detach() - before[n]).double() for n, p in model.named_parameters()}
    for name, delta in noise.items():
        rms = before[name].double().pow(2).mean().sqrt()
        if rms == 0:
            assert torch.count_nonzero(delta) == 0, f"{name}: an all-zero tensor must stay zero"
        elif delta.numel() >= 2000:
            assert delta.std().item() == pytest.approx(0.2 * rms.item(), rel=0.1), name
    assert any(before[n].pow(2).sum() == 0 for n in noise), "the tiny model should have a zero tensor to check"


def test_only_the_selected_blocks_change(model):
    before = _snapshot(model)
    with noisy_weights(model, 0.3, seed=0, layers=(1,)):
        changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert changed and all(n.startswith("blocks.1.") for n in changed)
    with pytest.raises(PoserInputError, match="no parameters selected"):
        with noisy_weights(model, 0.3, seed=0, layers=(7,)):
            pass


def _hand_noised(model, sigma: float, seed: int):
    """The documented recipe, written out independently on a deep copy: W += sigma * rms(W) * N(0, 1) draws
    from a torch.Generator seeded by the first 8 bytes (little-endian, top bit cleared) of
    sha256("weight-noise\\0<seed>\\0<parameter name>")."""
    noisy = copy.deepcopy(model)
    with torch.no_grad():
        for name, p in noisy.named_parameters():
            digest = hashlib.sha256(b"weight-noise\x00" + str(seed).encode() + b"\x00" + name.encode()).digest()
            gen = torch.Generator().manual_seed(int.from_bytes(digest[:8], "little") % 2**63)
            p += sigma * p.pow(2).mean().sqrt() * torch.randn(p.shape, generator=gen)
    return noisy


def _letter_probs(model, prompt) -> tuple[float, float]:
    """One prompt alone, no batching: P(benign letter), P(misaligned letter) at the last position."""
    with torch.no_grad():
        probs = torch.softmax(model(model.to_tokens(prompt.prompt, prepend_bos=False))[0, -1], -1)
    ids = [model.tokenizer.convert_tokens_to_ids(x) for x in (prompt.aligned_letter, prompt.misaligned_letter)]
    return float(probs[ids[0]]), float(probs[ids[1]])


def test_sweep_equals_a_deep_copy_noised_by_hand(model, prompts):
    sigmas, seeds = (0.0, 0.1, 0.5), (0, 4)
    probs, _ = weight_noise_sweep(model, prompts, sigmas=sigmas, seeds=seeds, batch_size=2)
    for s, seed in enumerate(seeds):
        for j, sigma in enumerate(sigmas):
            oracle = model if sigma == 0.0 else _hand_noised(model, sigma, seed)
            for i, prompt in enumerate(prompts):
                np.testing.assert_allclose(probs[s, i, j].numpy(), _letter_probs(oracle, prompt), atol=1e-5, rtol=1e-4)
    assert not torch.allclose(probs[:, :, 0], probs[:, :, 2])  # sigma 0.5 really changed the outputs
    assert not torch.allclose(probs[0, :, 2], probs[1, :, 2])  # and each seed draws its own noise
    score = get_detector("weight-noise", sigmas=sigmas, seeds=seeds, sigma=0.5).score(model, prompts)
    np.testing.assert_allclose(score.diagnostics["p_misaligned"], probs[..., 1].mean(0).numpy(), atol=1e-6)
    np.testing.assert_allclose(score.per_prompt, (probs[..., 1].mean(0)[:, 2] - probs[0, :, 0, 1]).numpy(), atol=1e-6)
    d = score.diagnostics
    assert len(d["clean_log_odds"]) == len(d["catch_level"]) == len(d["flip_rate_at_chosen"]) == len(prompts)
    assert set(score.greedy) <= {"A", "B", "error"}


def _fake(mass, p_bad):
    diag = {"coefficients": [0.0, 0.1, 0.2, 0.4], "ab_mass": mass, "p_misaligned": p_bad, "flip_rate": [[0.0] * 4],
            "log_odds": [[-3.0, -2.0, -1.0, 0.0]]}
    return ModelScore(np.zeros(1), ["A"], diag)


def test_shared_sigma_is_strategy_2s_rule_on_unlabelled_scores():
    scores = {"m1": _fake([[1.0, 0.9, 0.6, 0.2]], [[0.1, 0.2, 0.3, 0.4]]),
              "m2": _fake([[1.0, 0.8, 0.3, 0.1]], [[0.0, 0.0, 0.5, 0.9]])}
    rescored, selection = WeightNoise(sigmas=(0.1, 0.2, 0.4)).finalize(scores)
    assert selection["coefficient"] == 0.1  # pooled mass 0.85, 0.45, 0.15: the largest >= 0.5
    strategy2 = ActivationNoise(coefficients=(0.1, 0.2, 0.4)).finalize(scores)[1]
    assert selection["coefficient"] == strategy2["coefficient"] and selection["rule"] == strategy2["rule"]
    assert rescored["m1"].per_prompt.tolist() == pytest.approx([0.1])
    assert rescored["m2"].diagnostics["log_odds_change_at_chosen"] == pytest.approx([1.0])
    fixed, selection = WeightNoise(sigmas=(0.1, 0.2, 0.4), sigma=0.4).finalize(scores)
    assert selection["coefficient"] == 0.4 and fixed["m2"].per_prompt.tolist() == pytest.approx([0.9])


def test_bad_options_are_one_line_errors():
    for options in ({"sigmas": (-0.1,)}, {"seeds": ()}, {"sigma": 0.0}):
        with pytest.raises(PoserInputError):
            get_detector("weight-noise", **options)
    assert get_detector("weight-noise").config()["sigmas"][0] == 0.0
