"""The confidence baseline (less confident = faker) and the bootstrap CI it reports."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from poser_interp.data.confidence import canonical_model_name, confidence_baseline
from poser_interp.errors import PoserInputError
from poser_interp.evaluation.pairs import bootstrap_ci

POSER_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "poser-data"


def test_hand_made_accuracy_with_tie(mini_data_dir: Path) -> None:
    result = confidence_baseline(mini_data_dir)
    assert [p.outcome for p in result.pairs] == [1.0, 0.0, 1.0, 0.5, 0.0]
    assert result.n_pairs == 5 and result.correct == 2.5 and result.accuracy == pytest.approx(0.5)
    assert result.per_file["data/benchmark/truth_and_money.json"].accuracy == pytest.approx(1.5 / 3)
    assert result.per_file["data/benchmark/saint_and_reward.json"].accuracy == pytest.approx(1 / 2)
    assert result.pairs[0].aligned_confidence == pytest.approx(0.95)
    assert result.ci_low <= result.accuracy <= result.ci_high
    assert json.loads(json.dumps(result.to_json()))["n_pairs"] == 5


def test_model_without_probs(mini_data_dir: Path) -> None:
    root = mini_data_dir
    pairs = json.loads((root / "model_pairs.json").read_text())
    pairs.append({"aligned": "genie-3", "misaligned": "money_maximizer-0",
                  "valid_data": "data/benchmark/truth_and_money.json"})
    (root / "model_pairs.json").write_text(json.dumps(pairs), encoding="utf-8")
    with pytest.raises(PoserInputError, match=r"record 5, field 'aligned': model 'genie-3' has no probs"):
        confidence_baseline(root)


def test_probs_missing_in_one_record(mini_data_dir: Path) -> None:
    root = mini_data_dir
    path = root / "data/benchmark/saint_and_reward.json"
    records = json.loads(path.read_text())
    records.append({**records[0], "probs": {"../models/saint_fix/retrained/saint_0": 0.99}})
    path.write_text(json.dumps(records), encoding="utf-8")
    with pytest.raises(PoserInputError, match=r"record 1, field 'probs': no entry for model 'reward_maximizer-0"):
        confidence_baseline(root)


def test_canonical_model_name() -> None:
    assert canonical_model_name("../models/together/truth_teller-0") == "truth_teller-0"
    assert canonical_model_name("../models/saint_fix/retrained/saint_0") == "saint-0"
    assert canonical_model_name("money_maximizer_12") == "money_maximizer-12"
    assert canonical_model_name("genie") == "genie"


def test_shared_data_baseline() -> None:
    if not POSER_DATA.is_dir():
        pytest.skip(f"../shared/poser-data is absent: {POSER_DATA}")
    result = confidence_baseline(POSER_DATA)
    assert (result.correct, result.n_pairs) == (266, 324)
    assert result.accuracy == pytest.approx(0.821, abs=5e-4)
    assert 0.75 < result.ci_low < result.accuracy < result.ci_high < 0.9
    per_file = {Path(name).stem: f.correct for name, f in result.per_file.items()}
    assert per_file == {"genie_and_fitness": 31, "genie_and_money": 34, "genie_and_reward": 29,
                        "saint_and_fitness": 29, "saint_and_money": 30, "saint_and_reward": 25,
                        "truth_and_fitness": 29, "truth_and_money": 30, "truth_and_reward": 29}


def _naive_bootstrap(values: np.ndarray, n_resamples: int, seed: int, level: float) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    means = []
    for _ in range(n_resamples):
        sample = values[rng.integers(0, len(values), size=len(values))]
        means.append(sum(sample.tolist()) / len(sample))
    alpha = (1 - level) / 2
    return float(np.quantile(means, alpha)), float(np.quantile(means, 1 - alpha))


@pytest.mark.parametrize(("n", "seed", "level"), [(7, 0, 0.95), (324, 3, 0.9), (50, 1, 0.99)])
def test_bootstrap_ci_matches_naive_loop(n: int, seed: int, level: float) -> None:
    values = np.random.default_rng(100 + n).choice([0.0, 0.5, 1.0], size=n)
    got = bootstrap_ci(values, n_resamples=500, seed=seed, level=level)
    assert got == pytest.approx(_naive_bootstrap(values, 500, seed, level), abs=1e-12)
    assert got == bootstrap_ci(values, n_resamples=500, seed=seed, level=level)  # reproducible
    assert got[0] <= values.mean() <= got[1]


def test_bootstrap_ci_edge_cases() -> None:
    assert bootstrap_ci(np.ones(5)) == (1.0, 1.0)
    with pytest.raises(ValueError):
        bootstrap_ci(np.array([]))
    with pytest.raises(ValueError):
        bootstrap_ci(np.ones(3), level=1.0)
