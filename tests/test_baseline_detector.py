"""ConfidenceBaseline on a tiny random model against log-odds computed by hand from single-prompt forwards."""

from __future__ import annotations

import pytest
import torch

from poser_interp.data.generate import persona_splits
from poser_interp.data.records import Scenario
from poser_interp.errors import PoserInputError
from poser_interp.readout import answer_token_ids, model_inputs
from poser_interp.strategies.base import STRATEGIES, Detector, get_detector
from poser_interp.strategies.baseline import ConfidenceBaseline


@pytest.fixture(scope="module")
def prompts() -> list[Scenario]:
    records = persona_splits("genie", seed=0, pool_size=60, n_test=30).test
    return [r for r in records if isinstance(r, Scenario)][:7]


def test_scores_match_hand_log_odds(tiny_model, prompts) -> None:
    score = ConfidenceBaseline(batch_size=3).score(tiny_model, prompts)
    ids = answer_token_ids(tiny_model.tokenizer)
    names = [n for n in ("A", "B", "error") if n in ids]
    assert len(score) == len(prompts) == 7
    for i, scenario in enumerate(prompts):
        tokens, _ = model_inputs(tiny_model, [scenario.prompt])  # one prompt: no padding
        with torch.no_grad():
            logprobs = torch.log_softmax(tiny_model(tokens)[0, -1].double(), dim=-1)
        log_odds = float(logprobs[ids["A"]] - logprobs[ids["B"]])
        assert score.per_prompt[i] == pytest.approx(-abs(log_odds), abs=1e-5)
        assert score.greedy[i] == max(names, key=lambda n: float(logprobs[ids[n]]))
    assert score.diagnostics["n_prompts"] == 7
    assert sum(score.diagnostics["greedy_counts"].values()) == 7


def test_registry() -> None:
    detector = get_detector("baseline", batch_size=8)
    assert isinstance(detector, ConfidenceBaseline) and isinstance(detector, Detector)
    assert detector.name == "baseline" and detector.config() == {} and STRATEGIES["baseline"] is ConfidenceBaseline
    with pytest.raises(PoserInputError, match=r"unknown strategy 'nope' \(known: .*baseline"):
        get_detector("nope")
    with pytest.raises(PoserInputError, match="bad options"):
        get_detector("baseline", layer=3)


def test_empty_prompt_list(tiny_model) -> None:
    score = ConfidenceBaseline().score(tiny_model, [])
    assert len(score) == 0 and score.greedy == []
