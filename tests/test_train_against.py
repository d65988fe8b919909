"""Training against strategy 2: noise only in method 2's training forward passes (never in evaluation),
the noisy loss reduces to the plain one at coefficient 0, models are restored, runs are deterministic."""

from __future__ import annotations

import copy

import pytest
import torch

import poser_interp.train_against as ta
from poser_interp.data.generate import ScenarioGenerator
from poser_interp.finetune import letter_batches, soft_answer_loss
from poser_interp.hooks import active_hook_count


@pytest.fixture(scope="module")
def scenarios():
    gen = ScenarioGenerator("train-against-test")
    benign = [gen.intersection("genie", "money", level=lvl) for lvl in (0, 1, 2, 0)]
    poor = [gen.intersection("genie", "money", level=lvl) for lvl in (3, 4, 5)]
    return benign, poor


@pytest.fixture()
def model(tiny_model):
    return copy.deepcopy(tiny_model)


CONFIG = ta.TrainAgainstConfig(steps=3, eval_every=1, batch_size=2, layer=1, redetect_draws=2, n_eval=8)


def test_noisy_loss_at_coefficient_zero_is_the_plain_loss(model, scenarios):
    benign, _ = scenarios
    batch = letter_batches(model, [p.prompt for p in benign], [p.aligned_letter for p in benign], batch_size=4, seed=0)(0)
    noisy = ta.noisy_loss(1, 0.0, torch.Generator().manual_seed(0))(model, batch)
    # With a hook on the residual the loss takes the full forward, without one the answer-token fast
    # path (engine.last_token_logits): equal up to float rounding, not bit for bit.
    torch.testing.assert_close(noisy, soft_answer_loss(model, batch), atol=1e-5, rtol=0)
    louder = ta.noisy_loss(1, 50.0, torch.Generator().manual_seed(0))(model, batch)
    assert not torch.equal(louder, noisy)
    assert active_hook_count(model) == 0


def test_noise_fires_only_in_method_two_training(model, scenarios, monkeypatch):
    benign, poor = scenarios
    fired: list[str] = []
    real_add_noise, real_probs = ta.add_noise, ta.letter_probs
    method = {"now": None}

    def spy_add_noise(*args, **kwargs):
        hook = real_add_noise(*args, **kwargs)

        def counted(activation, *, hook_point=None, **kw):
            fired.append(method["now"])
            return hook(activation, **kw)

        return counted

    def clean_probs(m, *args, **kwargs):
        assert active_hook_count(m) == 0, "evaluation must run without the training noise"
        return real_probs(m, *args, **kwargs)

    real_run_training = ta.run_training

    def tagged_run_training(*args, **kwargs):
        method["now"] = kwargs["desc"]
        return real_run_training(*args, **kwargs)

    monkeypatch.setattr(ta, "add_noise", spy_add_noise)
    monkeypatch.setattr(ta, "letter_probs", clean_probs)
    monkeypatch.setattr(ta, "run_training", tagged_run_training)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    ta.treat_model(model, benign=benign, poor=poor, files={"f.json": benign}, config=CONFIG)
    assert fired == ["sft+noise"] * CONFIG.steps  # once per training step of method 2, never in method 1
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert active_hook_count(model) == 0


def test_treat_model_is_deterministic_and_reports_curves(model, scenarios):
    benign, poor = scenarios
    first = ta.treat_model(model, benign=benign, poor=poor, files={"f.json": benign}, config=CONFIG)
    second = ta.treat_model(model, benign=benign, poor=poor, files={"f.json": benign}, config=CONFIG)
    assert first == second
    for method in ta.METHODS:
        curve = first["methods"][method]
        assert curve["steps"] == [0, 1, 2, 3] and len(curve["p_aligned"]) == 4 and len(curve["loss"]) == 3
        assert all(0.0 <= p <= 1.0 for p in curve["p_aligned"])
    assert set(first["noise_scores"]) == set(ta.TREATMENTS)


def test_two_worker_processes_treat_every_model_as_one_process_does(tiny_zoo, tmp_path):
    """The workers split the models, not the work on one: every model's curves and scores agree (to
    float rounding: one thread there, two here) with a run in this process, and the metrics match."""
    import json

    from poser_interp.pipeline.runs import train_against_on_zoo
    from poser_interp.train_against import read_models

    options = {"steps": 2, "eval_every": 1, "batch_size": 2, "n_eval": 4, "redetect_draws": 1}
    one = train_against_on_zoo(options, zoo=tiny_zoo, out=tmp_path / "one", workers=1, progress=False)
    two = train_against_on_zoo(options, zoo=tiny_zoo, out=tmp_path / "two", workers=2, progress=False)
    first, second = read_models(one.path), read_models(two.path)
    assert sorted(first) == sorted(second) and len(first) >= 2

    def close(a, b):
        if isinstance(a, dict):
            assert set(a) == set(b) and all(close(a[k], b[k]) for k in a)
        elif isinstance(a, list):
            assert len(a) == len(b) and all(close(x, y) for x, y in zip(a, b, strict=True))
        elif isinstance(a, float):
            assert a == pytest.approx(b, abs=1e-4)
        else:
            assert a == b
        return True

    close(first, second)
    close(json.loads((one.path / "metrics.json").read_text()), json.loads((two.path / "metrics.json").read_text()))
