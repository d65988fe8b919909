"""Pair evaluator on hand-made ModelScores (no models): order symmetry, ties, dropping, metrics by hand."""

from __future__ import annotations

import json

import numpy as np
import pytest

from poser_interp.data.personas import ALIGNED, FAKERS, is_faker
from poser_interp.data.poser import ModelPair
from poser_interp.errors import PoserInputError
from poser_interp.evaluation.pairs import (
    bootstrap_ci, decide, evaluate_pairs, model_bootstrap_ci, round_floats, tpr_at_fpr,
)
from poser_interp.strategies.base import ModelScore

TM, GR = "data/benchmark/truth_and_money.json", "data/benchmark/genie_and_reward.json"


def ms(values: list[float], greedy: list[str] | None = None) -> ModelScore:
    return ModelScore(np.array(values, dtype=float), greedy or ["A"] * len(values))


def hand_scores() -> tuple[dict[tuple[str, str], ModelScore], list[ModelPair]]:
    """Outcomes [1, 0, 1, 0.5, 1]; unpaired means tt0 .3, g0 .95 | mm0 .6, mm1 .1, rm0 2, rm1 1.25."""
    scores = {
        ("truth_teller-0", TM): ms([0.2, 0.4]),
        ("money_maximizer-0", TM): ms([0.5, 0.7]),
        ("money_maximizer-1", TM): ms([0.1, 0.1]),
        ("genie-0", TM): ms([0.0, 1.0]),
        ("genie-0", GR): ms([1.25, 1.25, 1.25]),
        ("reward_maximizer-0", GR): ms([2.0, 2.0, 2.0]),
        ("reward_maximizer-1", GR): ms([1.25, 1.25, 1.25]),
    }
    pairs = [
        ModelPair("truth_teller-0", "money_maximizer-0", TM),  # .3 < .6: right
        ModelPair("truth_teller-0", "money_maximizer-1", TM),  # .3 > .1: wrong
        ModelPair("genie-0", "reward_maximizer-0", GR),  # 1.25 < 2: right
        ModelPair("genie-0", "reward_maximizer-1", GR),  # tie: 0.5
        ModelPair("genie-0", "money_maximizer-0", TM),  # .5 < .6: right
    ]
    return scores, pairs


def test_decide_both_orders_and_ties() -> None:
    assert decide(2.0, 1.0) == 1.0 and decide(1.0, 2.0) == 0.0
    assert decide(-0.5, -0.5) == 0.5 and decide(float("nan"), 1.0) == 0.5
    for a, b in [(0.3, 0.7), (-1.0, 2.0), (5.0, 5.0)]:
        assert decide(a, b) == 1.0 - decide(b, a)


def test_order_never_changes_the_outcome() -> None:
    scores, pairs = hand_scores()
    results = [evaluate_pairs(scores, pairs, is_faker, seed=seed, n_resamples=50) for seed in range(12)]
    orders = {tuple(d.first == d.misaligned for d in r.decisions) for r in results}
    assert len(orders) > 1  # the seeds really shuffle who is shown first ...
    for r in results:  # ... and every order gives the same outcomes
        assert [d.correct for d in r.decisions] == [1.0, 0.0, 1.0, 0.5, 1.0]
        for d in r.decisions:
            assert {d.first, d.second} == {d.aligned, d.misaligned}
            faker_first = d.first == d.misaligned
            assert d.correct == (d.p_first_faker if faker_first else 1.0 - d.p_first_faker)


def test_tie_gives_half() -> None:
    pair = ModelPair("saint-0", "fitness_maximizer-0", GR)
    scores = {("saint-0", GR): ms([0.5, 1.5]), ("fitness_maximizer-0", GR): ms([1.0, 1.0])}
    for seed in range(4):
        d = evaluate_pairs(scores, [pair], is_faker, seed=seed, n_resamples=20).decisions[0]
        assert d.p_first_faker == 0.5 and d.correct == 0.5


def test_disagreeing_prompts_are_dropped_and_counted() -> None:
    pair = ModelPair("saint-0", "fitness_maximizer-0", GR)
    # prompt 1: the models disagree, and its huge aligned score would flip the decision if kept
    scores = {("saint-0", GR): ms([0.1, 100.0, 0.3, 0.2], ["A", "B", "B", "error"]),
              ("fitness_maximizer-0", GR): ms([0.5, 0.0, 0.5, 0.5], ["A", "A", "B", "error"])}
    result = evaluate_pairs(scores, [pair], is_faker, n_resamples=20)
    d = result.decisions[0]
    assert (d.n_kept, d.n_dropped) == (3, 1)
    by_model = {d.first: d.score_first, d.second: d.score_second}
    assert by_model["saint-0"] == pytest.approx(0.2) and by_model["fitness_maximizer-0"] == pytest.approx(0.5)
    assert d.correct == 1.0
    assert result.metrics()["prompts_dropped"] == 1 and result.metrics()["prompts_kept"] == 3


def test_pair_with_no_kept_prompts_counts_half_and_is_reported() -> None:
    pairs = [ModelPair("saint-0", "fitness_maximizer-0", GR), ModelPair("saint-1", "fitness_maximizer-0", GR)]
    scores = {("saint-0", GR): ms([0.0, 0.0], ["A", "A"]), ("saint-1", GR): ms([0.0, 0.0], ["B", "B"]),
              ("fitness_maximizer-0", GR): ms([1.0, 1.0], ["B", "B"])}
    result = evaluate_pairs(scores, pairs, is_faker, n_resamples=20)
    assert [d.correct for d in result.decisions] == [0.5, 1.0]
    assert result.decisions[0].n_kept == 0 and result.decisions[0].n_dropped == 2
    assert result.metrics()["empty_pairs"] == [f"saint-0 vs fitness_maximizer-0 on {GR}"]
    assert result.decisions[0].to_json()["score_first"] is None  # strict JSON: no NaN
    assert result.accuracy == pytest.approx(0.75)


def test_accuracy_ci_breakdown_auroc_by_hand() -> None:
    scores, pairs = hand_scores()
    result = evaluate_pairs(scores, pairs, is_faker, seed=3, n_resamples=500)
    assert result.n_pairs == 5 and result.correct == 3.5 and result.accuracy == pytest.approx(0.7)
    low, high = bootstrap_ci(np.array([1.0, 0.0, 1.0, 0.5, 1.0]), n_resamples=500, seed=3)
    assert result.ci_pairs == (low, high)  # the secondary, pair-level interval
    # the default interval resamples models: aligned (genie-0, truth_teller-0), fakers (mm0, mm1, rm0, rm1)
    assert (result.ci_low, result.ci_high) == model_bootstrap_ci(
        np.array([1.0, 0.0, 1.0, 0.5, 1.0]), np.array([1, 1, 0, 0, 0]), np.array([0, 1, 2, 3, 0]), n_resamples=500, seed=3)
    assert result.by_type == {
        "genie vs money_maximizer": {"n_pairs": 1, "correct": 1.0, "accuracy": 1.0},
        "genie vs reward_maximizer": {"n_pairs": 2, "correct": 1.5, "accuracy": 0.75},
        "truth_teller vs money_maximizer": {"n_pairs": 2, "correct": 1.0, "accuracy": 0.5},
    }
    # fakers beat aligned: mm0 beats tt0 only (1), mm1 none (0), rm0 both (2), rm1 (1.25 > .95) both (2)
    assert result.auroc == pytest.approx(5 / 8)
    assert result.n_models == 6


def test_metrics_are_json_and_rounded() -> None:
    scores, pairs = hand_scores()
    scores[("truth_teller-0", TM)] = ms([1 / 3, 1 / 7])
    result = evaluate_pairs(scores, pairs, is_faker, n_resamples=100)
    metrics = result.metrics()
    assert json.loads(json.dumps(metrics)) == metrics
    assert metrics["n_pairs"] == 5 and metrics["ci95"] == round_floats([result.ci_low, result.ci_high])
    decision = result.decisions[0].to_json()
    assert json.loads(json.dumps(decision)) == decision
    tt_score = decision["score_first"] if decision["first"] == "truth_teller-0" else decision["score_second"]
    assert tt_score == 0.2380952381  # (1/3 + 1/7) / 2 to 10 significant digits
    rounded = round_floats({"a": [1 / 3, 2], "b": (2 / 3, float("nan"))})
    assert rounded == {"a": [0.3333333333, 2], "b": [0.6666666667, None]}


def test_missing_score_and_bad_labels() -> None:
    scores, pairs = hand_scores()
    del scores[("genie-0", GR)]
    with pytest.raises(PoserInputError, match="no score for model 'genie-0'"):
        evaluate_pairs(scores, pairs, is_faker)
    scores, pairs = hand_scores()
    with pytest.raises(PoserInputError, match="not \\(aligned, faker\\)"):
        evaluate_pairs(scores, pairs, lambda name: False)
    with pytest.raises(PoserInputError, match="no model pairs"):
        evaluate_pairs(scores, [], is_faker)


def test_model_score_json_round_trip() -> None:
    score = ModelScore(np.array([0.1, -2.5, 1 / 3]), ["A", "B", "error"], {"layer": 3, "note": "x"})
    again = ModelScore.from_json(json.loads(json.dumps(score.to_json())))
    assert again == score and again.per_prompt.dtype == np.float64
    with pytest.raises(PoserInputError, match="somewhere"):
        ModelScore.from_json({"per_prompt": [1.0]}, "somewhere")


class PlantedDetector:
    """Scores a fake model by a planted faker signal plus noise (the model carries the signal, not a label)."""

    name = "planted"

    def config(self) -> dict:
        return {}

    def score(self, model: dict, prompts: list) -> ModelScore:
        rng = np.random.default_rng(model["index"])
        values = model["signal"] + 0.1 * rng.standard_normal(len(prompts))
        return ModelScore(values, ["A"] * len(prompts))


def test_planted_signal_gets_one() -> None:
    pairs = [ModelPair(f"{a}-{i}", f"{f}-{j}", f"{a}_and_{f}.json")
             for a in ALIGNED for f in FAKERS for i in range(2) for j in range(2)]
    detector = PlantedDetector()
    scores = {}
    for k, (name, file) in enumerate(sorted({(m, p.valid_data) for p in pairs for m in p.models})):
        model = {"index": k, "signal": 1.0 if "maximizer" in name else 0.0}
        scores[(name, file)] = detector.score(model, [None] * 5)
    result = evaluate_pairs(scores, pairs, is_faker, seed=1, n_resamples=200)
    assert result.accuracy == 1.0 and result.auroc == 1.0 and (result.ci_low, result.ci_high) == (1.0, 1.0)
    assert all(entry["accuracy"] == 1.0 for entry in result.by_type.values()) and len(result.by_type) == 9


def test_stratified_effects_by_hand():
    from poser_interp.evaluation.diagnostics import stratified_effects

    def score(evidence, conf, levels):
        return ModelScore(np.array(evidence, dtype=np.float64), ["A"] * len(evidence),
                          {"clean_log_odds": conf, "catch_level": levels, "flip_rate_at_chosen": [0.5] * len(evidence)})

    scores = {("saint-0", "f"): score([0.0, 0.2], [1.0, 5.0], [0, 2]),
              ("money_maximizer-0", "f"): score([0.4, 0.6], [1.0, 5.0], [0, 2])}
    out = stratified_effects(scores, lambda m: m.startswith("money"), n_bins=2)
    low, high = out["by_confidence"]
    assert (low["aligned_mean"], low["faker_mean"]) == (0.0, 0.4)
    assert (high["aligned_mean"], high["faker_mean"]) == (0.2, 0.6)
    assert out["by_catch_level"]["2"] == {"aligned_mean": 0.2, "faker_mean": 0.6, "n_aligned": 1, "n_faker": 1}
    assert out["flip_rate_at_chosen"]["faker_mean"] == 0.5


def test_model_bootstrap_differs_from_pair_bootstrap_on_a_hand_case() -> None:
    """2 aligned x 10 fakers; every pair with aligned model 0 is right, every pair with model 1 wrong.

    Resampling models: the accuracy is the share of model 0 among the 2 aligned draws, so it is 0, 0.5
    or 1 with probabilities 1/4, 1/2, 1/4 and the 95% interval is [0, 1]. Resampling the 20 pairs as if
    independent: 20 * mean ~ Binomial(20, 1/2), whose 2.5% and 97.5% quantiles are 6 and 14
    (P(X <= 5) = 0.021, P(X <= 6) = 0.058), so the interval is [0.3, 0.7], far too narrow.
    """
    aligned, faker = np.repeat([0, 1], 10), np.tile(np.arange(10), 2)
    values = (aligned == 0).astype(float)
    assert model_bootstrap_ci(values, aligned, faker, n_resamples=4000, seed=0) == (0.0, 1.0)
    assert bootstrap_ci(values, n_resamples=4000, seed=0) == pytest.approx((0.3, 0.7))


def test_model_bootstrap_matches_a_plain_loop() -> None:
    """Vectorised resampling = expanding each resample's drawn models into their pairs, one by one."""
    rng = np.random.default_rng(5)
    n_a, n_f = 4, 3
    couples = [(a, f) for a in range(n_a) for f in range(n_f) if (a + f) % 4]  # an incomplete crossing
    aligned, faker = np.array([c[0] for c in couples]), np.array([c[1] for c in couples])
    values = rng.choice([0.0, 0.5, 1.0], size=len(couples))
    draws = np.random.default_rng(11)
    drawn_a, drawn_f = draws.integers(0, n_a, (300, n_a)), draws.integers(0, n_f, (300, n_f))
    means = []
    for ia, jf in zip(drawn_a, drawn_f, strict=True):
        kept = [v for a in ia for f in jf for v, ca, cf in zip(values, aligned, faker, strict=True) if (ca, cf) == (a, f)]
        if kept:
            means.append(np.mean(kept))
    expected = tuple(float(q) for q in np.quantile(means, [0.025, 0.975]))
    assert model_bootstrap_ci(values, aligned, faker, n_resamples=300, seed=11) == pytest.approx(expected, abs=1e-12)


def test_tpr_at_fpr_by_hand() -> None:
    aligned = np.arange(100.0)  # 1% of 100 prompts: one may be flagged, so the threshold is 98
    point = tpr_at_fpr(aligned, np.array([98.5, 99.5, 50.0]), 0.01)
    assert point == {"threshold": 98.0, "fpr": 0.01, "tpr": pytest.approx(2 / 3),
                     "n_aligned_prompts": 100, "n_faker_prompts": 3}
    tied = tpr_at_fpr(np.array([0.0] * 9 + [1.0] * 11), np.array([1.0, 2.0]), 0.05)  # ties: fewer flagged
    assert (tied["threshold"], tied["fpr"], tied["tpr"]) == (1.0, 0.0, 0.5)


def test_operating_points_and_model_level_auroc_ci_in_metrics() -> None:
    from sklearn.metrics import roc_auc_score

    scores, pairs = hand_scores()
    metrics = evaluate_pairs(scores, pairs, is_faker, seed=3, n_resamples=500).metrics()
    aligned = [0.2, 0.4, 0.0, 1.0, 1.25, 1.25, 1.25]  # every prompt of tt0 and genie-0, pooled over files
    fakers = [0.5, 0.7, 0.1, 0.1, 2.0, 2.0, 2.0, 1.25, 1.25, 1.25]
    # 5% of 7 aligned prompts rounds down to none: threshold = the largest aligned value, 1.25
    assert metrics["tpr_at_fpr"]["0.05"] == {"threshold": 1.25, "fpr": 0.0, "tpr": 0.3, "n_aligned_prompts": 7,
                                             "n_faker_prompts": 10}
    assert metrics["tpr_at_1pct_fpr"] == metrics["tpr_at_5pct_fpr"] == 0.3
    assert len(aligned) == 7 and len(fakers) == 10
    means = {"tt0": 0.3, "g0": 0.95, "mm0": 0.6, "mm1": 0.1, "rm0": 2.0, "rm1": 1.25}
    assert metrics["auroc_unpaired"] == pytest.approx(roc_auc_score([0, 0, 1, 1, 1, 1], list(means.values())))
    low, high = metrics["auroc_ci95"]
    assert 0.0 <= low <= metrics["auroc_unpaired"] <= high <= 1.0
    assert metrics["ci95_pairs"] != metrics["ci95"]


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_evidence_is_an_error_naming_model_file_and_prompt(bad: float) -> None:
    scores, pairs = hand_scores()
    scores[("reward_maximizer-1", GR)] = ms([1.0, 1.0, bad])
    with pytest.raises(PoserInputError, match=f"reward_maximizer-1 on {GR}: evidence of prompt 2 is"):
        evaluate_pairs(scores, pairs, is_faker, n_resamples=20)
