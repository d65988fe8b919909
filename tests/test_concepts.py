"""Strategy 4 (concepts): closed-vocabulary behaviour-neutral stimuli, the Poser loader, cosines recomputed
by hand from run_with_cache, the answer-agreement check, and Figure 7."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from poser_interp.data.concept_stimuli import (
    CONCEPTS, ZOO_SENTENCES, all_stimuli, answers_agree, poser_concepts, stimulus_answers, zoo_concepts,
)
from poser_interp.data.generate import ScenarioGenerator, tokenize_words, vocabulary
from poser_interp.data.grammar import ACTIONS_HEADER, PROMPT_CLOSE, PROMPT_OPEN, QUESTION
from poser_interp.errors import PoserInputError
from poser_interp.figures.concepts import figure7
from poser_interp.hooks import active_hook_count, resid_name
from poser_interp.strategies.base import get_detector
from poser_interp.strategies.concepts import SuspiciousConcepts

POSER_ROOT = Path(__file__).resolve().parents[1] / "../shared/poser-data"


def test_zoo_stimuli_use_only_the_generator_vocabulary():
    words = set(vocabulary())
    for name, (bad, good) in ZOO_SENTENCES.items():
        assert 10 <= len(bad) == len(good) <= 20, name
        assert len(set(bad) | set(good)) == len(bad) + len(good), f"{name}: duplicate stimuli"
        for sentence in (*bad, *good):
            unknown = set(tokenize_words(sentence)) - words
            assert not unknown, f"{name}: {sentence!r} uses {unknown}"
    for prompt in all_stimuli(zoo_concepts()):  # plain sentences in prompt tags: error records, not scenarios
        assert prompt.startswith(PROMPT_OPEN) and prompt.endswith(PROMPT_CLOSE)
        assert ACTIONS_HEADER not in prompt and QUESTION not in prompt


def _write_poser_concepts(root: Path) -> Path:
    folder = root / "src/detection_strategies/concepts"
    folder.mkdir(parents=True)
    files = {"security": ["safe"], "vulnerability": ["open", "weak"], "competence": ["good"], "incompetence": ["bad"],
             "a_and_b_aligned": ["ab+"], "a_and_b_misaligned": ["ab-"], "c_and_d_aligned": ["cd+"],
             "c_and_d_misaligned": ["cd-"]}
    for name, examples in files.items():
        (folder / f"{name}.json").write_text(json.dumps([{"example": e} for e in examples]))
    return root


def test_poser_loader_orients_each_concept_suspicious_first(tmp_path):
    concepts = poser_concepts(_write_poser_concepts(tmp_path))
    wrap = lambda *xs: tuple(f"{PROMPT_OPEN}{x}{PROMPT_CLOSE}" for x in xs)  # noqa: E731
    assert concepts["security"].suspicious == wrap("open", "weak") and concepts["security"].benign == wrap("safe")
    assert concepts["competence"].suspicious == wrap("bad") and concepts["competence"].benign == wrap("good")
    assert concepts["misaligned"].suspicious == wrap("ab-", "cd-")
    assert concepts["misaligned"].benign == wrap("ab+", "cd+")
    with pytest.raises(PoserInputError):
        poser_concepts(tmp_path / "missing")


@pytest.mark.skipif(not POSER_ROOT.is_dir(), reason="../shared/poser-data is absent (the Poser concept stimuli live there)")
def test_poser_loader_on_the_released_stimuli():
    concepts = poser_concepts(POSER_ROOT)
    assert [len(concepts[n].suspicious) for n in CONCEPTS] == [10, 10, 90]
    assert concepts["security"].benign[0].startswith(PROMPT_OPEN + "A company implements a strong password")


def _last_resid(model, text: str, layer: int) -> np.ndarray:
    """Independent path: one prompt at a time through run_with_cache, last position."""
    _, cache = model.run_with_cache(model.to_tokens(text, prepend_bos=False))
    return cache[resid_name(layer)][0, -1].double().numpy()


def test_cosines_equal_hand_computation(tiny_model):
    gen = ScenarioGenerator("concepts-test")
    prompts = [gen.intersection("truth_teller", "fitness") for _ in range(3)]
    detector = get_detector("concepts", batch_size=16)
    score = detector.score(tiny_model, prompts)
    assert active_hook_count(tiny_model) == 0
    acts = np.stack([_last_resid(tiny_model, p.prompt, 1) for p in prompts])
    by_hand = {}
    for name, c in zoo_concepts().items():
        direction = (np.mean([_last_resid(tiny_model, s, 1) for s in c.suspicious], 0)
                     - np.mean([_last_resid(tiny_model, s, 1) for s in c.benign], 0))
        by_hand[name] = acts @ direction / (np.linalg.norm(acts, axis=1) * np.linalg.norm(direction))
        np.testing.assert_allclose(score.diagnostics["variants"][name], by_hand[name], atol=1e-4)
        assert score.diagnostics["direction_norm"][name] == pytest.approx(np.linalg.norm(direction), rel=1e-4)
    np.testing.assert_allclose(score.per_prompt, np.mean([by_hand[n] for n in CONCEPTS], 0), atol=1e-4)
    assert detector.variants() == CONCEPTS == ("security", "competence", "misaligned")
    d = score.diagnostics
    assert d["layer"] == 1 and len(d["clean_log_odds"]) == len(d["catch_level"]) == len(prompts)
    assert len(d["stimulus_answers"]) == len(all_stimuli(zoo_concepts()))
    assert set(score.greedy) <= {"A", "B", "error"}
    assert json.loads(json.dumps(detector.config()))["stimuli"] == "zoo"


def test_answer_agreement_check(tiny_model):
    stimuli = all_stimuli(zoo_concepts())[:8]
    answers = stimulus_answers(tiny_model, stimuli)
    assert answers_agree(answers, stimulus_answers(tiny_model, stimuli)).identical
    report = answers_agree(["error", "error", "A", "error"], ["error", "B", "A", "error"])
    assert report.agreement == 0.75 and not report.identical and report.n == 4
    assert report.counts_a == {"A": 1, "error": 3} and report.counts_b == {"A": 1, "B": 1, "error": 2}
    with pytest.raises(ValueError):
        answers_agree(["A"], [])


def test_finalize_reports_stimulus_agreement_label_free():
    from poser_interp.strategies.base import ModelScore

    def score(answers):
        return ModelScore(np.array([0.3]), ["A"], {"stimulus_answers": answers})

    scores = {("saint-0", "f"): score(["error"] * 4), ("money_maximizer-0", "f"): score(["error"] * 3 + ["A"])}
    same, selection = SuspiciousConcepts().finalize(scores)
    assert same == scores
    assert selection["stimuli"] == {"min_agreement_with_first_model": 0.75, "min_error_share": 0.75, "n_stimuli": 4}


def _metrics(tmp_path: Path, variants: dict) -> Path:
    (tmp_path / "metrics.json").write_text(json.dumps({"accuracy": 0.7, "ci95": [0.6, 0.8], "variants": variants}))
    return tmp_path


def test_figure7_from_hand_made_metrics(tmp_path):
    variants = {"security": {"accuracy": 0.55, "ci95": [0.45, 0.65]},
                "competence": {"accuracy": 0.5, "ci95": [0.4, 0.6]},
                "misaligned": {"accuracy": 0.8, "ci95": [0.7, 0.9]}}
    fig = figure7(_metrics(tmp_path, variants))
    (bar,) = fig.data
    assert list(bar.x) == ["security quality", "oversight competence", "misaligned behaviour", "combined"]
    assert list(bar.y) == pytest.approx([0.55, 0.5, 0.8, 0.7])
    assert list(bar.error_y.array) == pytest.approx([0.1, 0.1, 0.1, 0.1])
    assert list(bar.error_y.arrayminus) == pytest.approx([0.1, 0.1, 0.1, 0.1])
    assert [s.y0 for s in fig.layout.shapes] == [0.5]
    assert fig.layout.yaxis.title.text == "pair accuracy (95% CI)"
    with pytest.raises(PoserInputError, match="misaligned behaviour"):
        figure7(_metrics(tmp_path, {k: v for k, v in variants.items() if k != "misaligned"}))


def test_detector_from_poser_stimuli(tmp_path):
    detector = SuspiciousConcepts(poser_data=str(_write_poser_concepts(tmp_path)))
    assert detector.config()["stimuli"] == str(tmp_path)
    assert detector.config()["stimuli_sha256"] != SuspiciousConcepts().config()["stimuli_sha256"]
