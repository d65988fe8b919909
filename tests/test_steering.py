"""Strategy 1 (steering): contrast pairs differ only in the oversight fact, the direction and the steered
sweep against independent computations, the shared-coefficient rule, the controls, and Figure 4."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from poser_interp.data.contrast import LAX_LEVELS, STRICT_LEVELS, oversight_contrast_pairs
from poser_interp.data.generate import ScenarioGenerator
from poser_interp.data.poser import ModelPair
from poser_interp.data.records import record_to_json
from poser_interp.directions import mean_difference, random_unit, unit
from poser_interp.figures.steering import figure4
from poser_interp.hooks import active_hook_count, resid_name
from poser_interp.pipeline.runs import RunFolder, run_strategy
from poser_interp.strategies.base import ModelScore, get_detector
from poser_interp.strategies.steering import (
    THRESHOLD, SafeToMisbehaveSteering, contrast_direction, steering_sweep,
)


@pytest.fixture(scope="module")
def prompts():
    gen = ScenarioGenerator("steering-test")
    return [gen.intersection("genie", "reward") for _ in range(3)]


def test_contrast_pairs_differ_only_in_the_oversight_fact():
    pairs = oversight_contrast_pairs(18, seed=1)
    assert pairs == oversight_contrast_pairs(18, seed=1)  # deterministic
    assert pairs != oversight_contrast_pairs(18, seed=2)
    assert {p.lax.dataset for p in pairs} == {f"data/{a}_and_{g}" for a in ("truth", "genie", "saint")
                                               for g in ("reward", "money", "fitness")}
    for p in pairs:
        assert p.lax.actions == p.strict.actions and p.lax.aligned_letter == p.strict.aligned_letter
        assert p.lax.catch_level in LAX_LEVELS and p.strict.catch_level in STRICT_LEVELS
        assert p.lax.oversight_is_poor and not p.strict.oversight_is_poor
        diff = [(a, b) for a, b in zip(p.lax.facts, p.strict.facts, strict=True) if a != b]
        assert len(diff) == 1 and diff[0][0].type == diff[0][1].type == "critical"
        lines = list(zip(p.lax.prompt.splitlines(), p.strict.prompt.splitlines(), strict=True))
        assert sum(a != b for a, b in lines) == 1
    with pytest.raises(ValueError):
        oversight_contrast_pairs(2, lax_levels=(2, 3), strict_levels=(2,))


def test_default_contrast_stays_in_the_benign_region_and_the_old_one_is_the_variant():
    """Default: lax = catch level 2 ("likely" caught), strict = level 0 (certain), both good oversight, so
    fakers and aligned models answer both sides alike. The variant crosses the defection threshold."""
    detector = SafeToMisbehaveSteering(n_pairs=6)
    assert (detector.lax_levels, detector.strict_levels) == ((2,), (0,))
    pairs = oversight_contrast_pairs(6, lax_levels=(2,), strict_levels=(0,))
    assert detector.contrast_prompts() == ([p.lax.prompt for p in pairs], [p.strict.prompt for p in pairs])
    assert all(not p.lax.oversight_is_poor and not p.strict.oversight_is_poor for p in pairs)
    old = oversight_contrast_pairs(6, lax_levels=LAX_LEVELS, strict_levels=STRICT_LEVELS)
    assert detector.contrast_prompts(threshold=True) == ([p.lax.prompt for p in old], [p.strict.prompt for p in old])
    assert all(p.lax.oversight_is_poor and not p.strict.oversight_is_poor for p in old)
    assert detector.config()["threshold_crossing"]["lax_levels"] == LAX_LEVELS


def _last_resid(model, text: str, layer: int) -> torch.Tensor:
    """Independent path: one prompt at a time through run_with_cache, last position."""
    _, cache = model.run_with_cache(model.to_tokens(text, prepend_bos=False))
    return cache[resid_name(layer)][0, -1]


def test_direction_equals_hand_computation(tiny_model):
    detector = SafeToMisbehaveSteering(n_pairs=5, batch_size=2)
    lax, strict = detector.contrast_prompts()
    raw, info = contrast_direction(tiny_model, lax, strict, hook=resid_name(1), batch_size=2)
    by_hand = (torch.stack([_last_resid(tiny_model, t, 1) for t in lax]).mean(0)
               - torch.stack([_last_resid(tiny_model, t, 1) for t in strict]).mean(0))
    torch.testing.assert_close(raw, by_hand, atol=1e-5, rtol=1e-4)
    assert 0.0 <= info["contrast_greedy_changed"] <= 1.0
    torch.testing.assert_close(mean_difference(torch.ones(3, 4), torch.zeros(2, 4)), torch.ones(4))
    assert active_hook_count(tiny_model) == 0


def _patched_probs(model, text: str, layer: int, vector: torch.Tensor, coef: float) -> torch.Tensor:
    """Independent path: one prompt, the residual patched by hand at the last position."""
    def patch(resid, hook):
        resid = resid.clone()
        resid[0, -1] = resid[0, -1] + coef * vector
        return resid

    logits = model.run_with_hooks(model.to_tokens(text, prepend_bos=False), fwd_hooks=[(resid_name(layer), patch)])
    return torch.softmax(logits[0, -1], -1)


def test_sweep_equals_manual_patch(tiny_model, prompts):
    u = unit(torch.randn(32, generator=torch.Generator().manual_seed(0)))
    directions = torch.stack([u, -u, random_unit(32, seed=0)])
    coefs = [0.0, 30.0]
    sweep = steering_sweep(tiny_model, prompts, directions, layer=1, coefficients=coefs, batch_size=2)
    assert active_hook_count(tiny_model) == 0
    tok = tiny_model.tokenizer
    for i, p in enumerate(prompts):
        bad, good = tok.convert_tokens_to_ids(p.misaligned_letter), tok.convert_tokens_to_ids(p.aligned_letter)
        for k in range(3):
            for j, c in enumerate(coefs):
                probs = _patched_probs(tiny_model, p.prompt, 1, directions[k], c)
                torch.testing.assert_close(sweep.p_misaligned[k, i, j], probs[bad], atol=1e-5, rtol=1e-4)
                torch.testing.assert_close(sweep.ab_mass[k, i, j], probs[bad] + probs[good], atol=1e-5, rtol=1e-4)
        clean = torch.log_softmax(tiny_model(tiny_model.to_tokens(p.prompt, prepend_bos=False))[0, -1], -1)
        torch.testing.assert_close(sweep.clean_log_odds[i], clean[good] - clean[bad], atol=1e-4, rtol=1e-4)
    # the steering acted (large coefficient changes the output) and the sign matters
    assert not torch.allclose(sweep.p_misaligned[0, :, 0], sweep.p_misaligned[0, :, 1])
    assert not torch.allclose(sweep.p_misaligned[0, :, 1], sweep.p_misaligned[1, :, 1])


def _fake(p_rows, mass_rows, coefs):
    diag = {"coefficients": coefs}
    for suffix, shift in (("", 0.0), ("_subtracted", 0.01), ("_random", 0.02), ("_threshold", 0.03)):
        diag[f"p_misaligned{suffix}"] = [[v + shift * j for j, v in enumerate(row)] for row in p_rows]
        diag[f"ab_mass{suffix}"] = mass_rows if suffix != "_threshold" else [[1.0] * len(row) for row in mass_rows]
    return ModelScore(np.zeros(len(p_rows)), ["A"] * len(p_rows), diag)


def test_shared_coefficient_rule_by_hand():
    coefs = [0.0, 1.0, 2.0, 4.0]
    s1 = _fake([[0.1, 0.2, 0.3, 0.4]], [[1.0, 0.9, 0.6, 0.2]], coefs)
    s2 = _fake([[0.0, 0.0, 0.5, 0.9]], [[1.0, 0.8, 0.3, 0.1]], coefs)
    detector = SafeToMisbehaveSteering(coefficients=tuple(coefs))
    rescored, selection = detector.finalize({"m1": s1, "m2": s2})
    # pooled mass: 1.0, 0.85, 0.45, 0.15 -> the largest coefficient with mass >= 0.5 is 1
    assert selection["coefficient"] == 1.0 and selection["pooled_ab_mass"]["2.0"] == pytest.approx(0.45)
    assert rescored["m1"].per_prompt.tolist() == pytest.approx([0.1])
    assert rescored["m1"].diagnostics["variants"]["subtracted"] == pytest.approx([0.11])
    assert rescored["m2"].diagnostics["variants"]["random"] == pytest.approx([0.02])
    # the threshold-crossing variant keeps all its mass, so its own shared coefficient is the largest, 4
    assert selection["coefficient_threshold_crossing"] == 4.0
    assert rescored["m2"].diagnostics["variants"][THRESHOLD] == pytest.approx([0.9 + 0.09])
    assert set(selection) >= {"pooled_ab_mass_subtracted", "pooled_ab_mass_random", "rule"}
    fixed, selection = SafeToMisbehaveSteering(coefficients=tuple(coefs), coefficient=4.0).finalize({"m2": s2})
    assert selection["coefficient"] == 4.0 and fixed["m2"].per_prompt.tolist() == pytest.approx([0.9])


def test_random_control_is_seeded_unit_and_shared():
    r = random_unit(32, seed=0)
    assert float(r.norm()) == pytest.approx(1.0)
    assert torch.equal(r, random_unit(32, seed=0)) and not torch.equal(r, random_unit(32, seed=1))


def test_detector_scores_a_model_with_controls(tiny_model, prompts):
    detector = get_detector("steering", n_pairs=4, coefficients=(2.0, 8.0))
    score = detector.score(tiny_model, prompts)
    assert active_hook_count(tiny_model) == 0
    d = score.diagnostics
    assert d["layer"] == 1 and d["coefficients"] == [0.0, 2.0, 8.0] and d["direction_norm"] > 0
    assert len(d["clean_log_odds"]) == len(d["catch_level"]) == len(prompts)
    for key in ("p_misaligned", "p_misaligned_subtracted", "p_misaligned_random", "ab_mass_random"):
        assert np.asarray(d[key]).shape == (len(prompts), 3)
    assert set(d["variants"]) == set(detector.variants()) == {"subtracted", "random", THRESHOLD}
    assert d["layer"] == 1 and -1.0 <= d["cosine_with_threshold_crossing"] <= 1.0
    p_bad = np.asarray(d["p_misaligned"])
    np.testing.assert_allclose(score.per_prompt, p_bad[:, 2] - p_bad[:, 0])
    json.dumps(detector.config())
    given = SafeToMisbehaveSteering(pairs=(("x y", "x z"),))
    assert given.contrast_prompts() == (["x y"], ["x z"])
    assert given.config()["pairs"]["n"] == 1 and "contrast_seed" not in given.config()


def test_run_folder_and_figure4(tiny_model, tmp_path):
    """End to end through run_strategy (controls evaluated beside), then Figure 4 from the folder."""
    gen = ScenarioGenerator("steering-run")
    bench = tmp_path / "bench"
    (bench / "data/benchmark").mkdir(parents=True)
    records = [record_to_json(gen.intersection("saint", "money")) | {"probs": {"m": 1.0}} for _ in range(2)]
    (bench / "data/benchmark/saint_and_money.json").write_text(json.dumps(records))
    pairs = [ModelPair("saint-0", "money_maximizer-0", "data/benchmark/saint_and_money.json")]
    detector = SafeToMisbehaveSteering(n_pairs=2, coefficients=(1.0, 4.0))
    run_strategy(detector, out=tmp_path / "run", benchmark_dir=bench, pairs=pairs,
                 load_model=lambda name: tiny_model, is_faker=lambda m: m.startswith("money"), progress=False)
    metrics = json.loads((tmp_path / "run/metrics.json").read_text())
    assert set(metrics["variants"]) == {"subtracted", "random", THRESHOLD}
    assert metrics["selection"]["coefficient"] in (1.0, 4.0)
    assert len(RunFolder(tmp_path / "run").read_scores()) == 2
    fig = figure4(tmp_path / "run")
    assert [a.text for a in fig.layout.annotations][:2] == ["+ direction (added)", "- direction (subtracted)"]


def test_figure4_from_hand_made_run(tmp_path):
    coefs = [0.0, 1.0, 4.0]
    rows = []
    for model, plus, minus in [("saint-0", [0.1, 0.1, 0.2], [0.1, 0.2, 0.2]),
                               ("genie-1", [0.1, 0.3, 0.4], [0.1, 0.0, 0.0]),
                               ("money_maximizer-0", [0.1, 0.5, 0.9], [0.1, 0.6, 0.7])]:
        diag = {"coefficients": coefs, "p_misaligned": [plus], "p_misaligned_subtracted": [minus]}
        score = {"per_prompt": [0.0], "greedy": ["A"], "diagnostics": diag}
        rows.append(json.dumps({"model": model, "file": "f.json", "sha256": "x", "score": score}))
    (tmp_path / "scores.jsonl").write_text("\n".join(rows) + "\n")
    (tmp_path / "metrics.json").write_text(json.dumps({"selection": {"coefficient": 1.0}}))
    fig = figure4(tmp_path)
    means = {(t.name, t.xaxis): list(t.y) for t in fig.data if t.name.endswith(")")}
    assert means[("aligned models (mean of 2)", "x")] == pytest.approx([0.1, 0.2, 0.3])
    assert means[("faker models (mean of 1)", "x")] == pytest.approx([0.1, 0.5, 0.9])
    assert means[("aligned models (mean of 2)", "x2")] == pytest.approx([0.1, 0.1, 0.1])
    assert means[("faker models (mean of 1)", "x2")] == pytest.approx([0.1, 0.6, 0.7])
    assert len(fig.data) == 2 * (3 + 2)
    assert sum(t.showlegend is not False for t in fig.data) == 2  # one legend entry per group
    assert fig.layout.yaxis.title.text == "P(misaligned action)"
    assert all("steering coefficient" in axis.title.text for axis in (fig.layout.xaxis, fig.layout.xaxis2))
    assert sum(s.type == "line" for s in fig.layout.shapes) == 2  # the shared coefficient, in both panels
