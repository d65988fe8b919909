"""Strategy 5 (decision speed): probe accuracies against a plain sklearn loop, the logit-lens decision
layer against a hand-written LayerNorm + unembedding on `run_with_cache` residuals, and the detector."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from poser_interp.data.generate import ScenarioGenerator
from poser_interp.hooks import active_hook_count
from poser_interp.readout import last_token_residuals
from poser_interp.strategies.base import get_detector
from poser_interp.strategies.decision_speed import DecisionSpeed, probe_split, settled_from


@pytest.fixture(scope="module")
def prompts():
    gen = ScenarioGenerator("decision-speed-test")
    return [gen.intersection("saint", "money") for _ in range(24)]


@pytest.fixture(scope="module")
def varied_model(zoo_tokenizer, prompts):
    """A random 3-layer model whose A-vs-B readout is re-aimed so its answers differ across prompts."""
    from poser_interp.zoo.train import Architecture, make_model

    model = make_model(Architecture(n_layers=3, d_model=32, n_heads=2, d_mlp=64, n_ctx=160), len(zoo_tokenizer), seed=11)
    model.set_tokenizer(zoo_tokenizer, default_padding_side="right")
    model.eval()
    a, b = zoo_tokenizer.convert_tokens_to_ids(["A", "B"])
    resid, _ = last_token_residuals(model, [p.prompt for p in prompts], [2])
    with torch.no_grad():
        normed = model.ln_final(resid[:, 0])
        direction = torch.linalg.svd(normed - normed.mean(0), full_matrices=False).Vh[0]
        model.unembed.W_U[:, b] = model.unembed.W_U[:, a] - direction
        model.unembed.b_U[b] = model.unembed.b_U[a] + normed.mean(0) @ direction
    return model


@pytest.fixture(scope="module")
def score(varied_model, prompts):
    return DecisionSpeed().score(varied_model, prompts)


@pytest.fixture(scope="module")
@torch.no_grad()
def hand(varied_model, prompts):
    """Per prompt (unpadded, one at a time): last-token resid_post at every layer, and the final logits."""
    model = varied_model
    feats, finals = [], []
    for p in prompts:
        logits, cache = model.run_with_cache(model.to_tokens(p.prompt, prepend_bos=False))
        feats.append(torch.stack([cache[f"blocks.{layer}.hook_resid_post"][0, -1] for layer in range(model.cfg.n_layers)]))
        finals.append(logits[0, -1])
    return torch.stack(feats), torch.stack(finals)


def test_settled_from_by_hand():
    agree = torch.tensor([[True, True, True], [False, True, True], [True, False, True], [True, True, False]])
    assert settled_from(agree).tolist() == [0, 1, 2, 3]


def test_split_is_seeded_by_prompt_text_not_order():
    texts = [f"prompt {i}" for i in range(10)]
    split = probe_split(texts, 0)
    assert split.sum() == 5
    reordered = probe_split(texts[::-1], 0)[::-1]
    assert np.array_equal(split, reordered)
    assert not np.array_equal(split, probe_split(texts, 1)) or not np.array_equal(split, probe_split(texts, 2))


def test_answers_vary_and_probe_matches_plain_loop(varied_model, prompts, score, hand):
    assert active_hook_count(varied_model) == 0
    feats, finals = hand
    a, b = varied_model.tokenizer.convert_tokens_to_ids(["A", "B"])
    labels = (finals[:, a] > finals[:, b]).numpy()
    assert 0 < labels.sum() < len(labels)  # the fixture really makes answers differ
    assert score.greedy == ["A" if x else "B" for x in labels]
    train = probe_split([p.prompt for p in prompts], 0)
    expected = []
    for layer in range(varied_model.cfg.n_layers):
        x = feats[:, layer].numpy()
        probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000, random_state=0))
        probe.fit(x[train], labels[train])
        expected.append(float(np.mean(probe.predict(x[~train]) == labels[~train])))
    assert score.diagnostics["probe_accuracy"] == pytest.approx(expected)
    ok = [acc >= 0.95 for acc in expected]
    first = next((i for i in range(len(ok)) if all(ok[i:])), len(ok))
    assert score.diagnostics["probe_decision_layer"] == first
    assert score.diagnostics["variants"]["probe"] == [float(first)] * len(prompts)


def test_lens_decision_layer_by_hand(varied_model, prompts, score, hand):
    feats, finals = hand
    ln, w_u, b_u = varied_model.ln_final, varied_model.W_U, varied_model.b_U
    a, b = varied_model.tokenizer.convert_tokens_to_ids(["A", "B"])
    expected, agreement = [], np.zeros(varied_model.cfg.n_layers)
    for i in range(len(prompts)):
        final_a = bool(finals[i, a] > finals[i, b])
        agree = []
        for layer in range(varied_model.cfg.n_layers):
            x = feats[i, layer]
            x = x - x.mean()
            x = x / (x.pow(2).mean() + varied_model.cfg.eps).sqrt() * ln.w + ln.b  # scale recomputed per layer
            lens = x @ w_u + b_u
            agree.append(bool(lens[a] > lens[b]) == final_a)
        agreement += np.array(agree, dtype=float) / len(prompts)
        expected.append(next(layer for layer in range(len(agree)) if all(agree[layer:])))
    assert score.per_prompt.tolist() == expected
    assert score.diagnostics["lens_decision_layer"] == expected
    assert score.diagnostics["lens_agreement"] == pytest.approx(agreement.tolist())
    assert len(set(expected)) > 1  # the lens settles at different layers on different prompts
    benign = varied_model.tokenizer.convert_tokens_to_ids([p.aligned_letter for p in prompts])
    bad = varied_model.tokenizer.convert_tokens_to_ids([p.misaligned_letter for p in prompts])
    hand = [float(finals[i, benign[i]] - finals[i, bad[i]]) for i in range(len(prompts))]
    assert score.diagnostics["clean_log_odds"] == pytest.approx(hand, abs=1e-4)


def test_detector_from_registry(tiny_model, prompts):
    detector = get_detector("decision-speed", probe_threshold=0.9)
    assert detector.config() == {"probe_threshold": 0.9, "split_seed": 0}
    assert detector.variants() == ("probe",)
    score = detector.score(tiny_model, prompts[:5])
    assert len(score) == 5 and len(score.diagnostics["variants"]["probe"]) == 5
    assert score.diagnostics["catch_level"] == [p.catch_level for p in prompts[:5]]
    assert np.isfinite(score.per_prompt).all()
    assert active_hook_count(tiny_model) == 0
    one = detector.score(tiny_model, prompts[:1])  # too few prompts for a probe: flagged, still finite
    assert one.diagnostics["probe_fitted"] is False and np.isfinite(one.diagnostics["variants"]["probe"]).all()
