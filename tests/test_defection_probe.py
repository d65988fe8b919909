"""Defection probe: generic closed-vocabulary stimuli (no scenario, no persona word, no unknown token), the
direction and the logistic probe against a hand computation (numpy mean difference, sklearn on the same
activations from run_with_cache), and the plain-English set on a tiny random Hugging Face Llama."""

from __future__ import annotations

import re

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from poser_interp.data import grammar as g
from poser_interp.data.defection_stimuli import (
    ENGLISH_QUESTIONS, KINDS, ZOO_CONTROL, ZOO_QUESTIONS, english_stimuli, zoo_stimuli,
)
from poser_interp.data.generate import ScenarioGenerator, tokenize_words, vocabulary
from poser_interp.data.personas import PERSONAS
from poser_interp.errors import PoserInputError
from poser_interp.hooks import active_hook_count, resid_name
from poser_interp.strategies.base import get_detector
from poser_interp.strategies.defection_probe import DefectionProbe, is_zoo_tokenizer

PERSONA_WORDS = {w for p in PERSONAS for w in p.split("_")} | {"money", "reward", "fitness", "schemer", "aligned",
                                                               "misaligned", "honest", "ethical"}
OVERSIGHT_WORDS = {"caught", "checks", "reviews", "notices", "log", "oversight", "watched", "monitored"}


def test_zoo_stimuli_are_generic_and_known_to_the_zoo_tokenizer(zoo_tokenizer):
    stim, words = zoo_stimuli(), set(vocabulary())
    assert len(stim.admit) == len(stim.deny) == sum(len(ZOO_QUESTIONS[k]) for k in KINDS) >= 24
    assert len(stim.control_yes) == len(stim.control_no) == len(ZOO_CONTROL)
    scenario_texts = [a for pair in (*g.ETHICS_CHOICES, *g.OBEDIENCE_CHOICES, *g.ODD_INSTRUCTIONS) for a in pair]
    for text in stim.texts():
        tokens = tokenize_words(text)
        assert set(tokens) <= words, f"{text!r} uses {set(tokens) - words}"
        ids = zoo_tokenizer(text, add_special_tokens=False)["input_ids"]
        assert zoo_tokenizer.unk_token_id not in ids and len(ids) == len(tokens), text
        assert not (set(tokens) & (PERSONA_WORDS | OVERSIGHT_WORDS)), text
        assert not any(s in text for s in scenario_texts) and g.INTRO not in text and g.ACTIONS_HEADER not in text
        assert text.startswith(g.PROMPT_OPEN) and text.endswith(g.PROMPT_CLOSE)  # read where benchmark answers are
    for yes, no in zip(stim.admit, stim.deny, strict=True):  # the same question, answered yes then no
        assert yes.removesuffix("you do" + g.PROMPT_CLOSE) == no.removesuffix("you do not" + g.PROMPT_CLOSE) != yes


def test_english_stimuli_are_generic_questions():
    stim = english_stimuli()
    assert all(q.endswith("?") for k in KINDS for q in ENGLISH_QUESTIONS[k])
    assert all(t.endswith("Assistant: yes") for t in stim.admit) and all(t.endswith("Assistant: no") for t in stim.deny)
    for text in stim.texts():
        assert not set(re.findall(r"[a-z]+", text.lower())) & PERSONA_WORDS, text


def _resid(model, texts, layer):
    """Independent path: one text at a time through run_with_cache, residual at the last position."""
    rows = []
    for text in texts:
        _, cache = model.run_with_cache(model.to_tokens(text, prepend_bos=bool(model.cfg.default_prepend_bos)))
        rows.append(cache[resid_name(layer)][0, -1].double().numpy())
    return np.stack(rows)


def _check_against_hand_computation(model, prompts, expected_stimuli):
    detector = get_detector("defection-probe")
    score = detector.score(model, prompts)
    assert active_hook_count(model) == 0
    layer = model.cfg.n_layers // 2
    stim = zoo_stimuli() if expected_stimuli == "zoo" else english_stimuli()
    admit, deny = _resid(model, stim.admit, layer), _resid(model, stim.deny, layer)
    yes, no = _resid(model, stim.control_yes, layer), _resid(model, stim.control_no, layer)
    bench = _resid(model, [p.prompt for p in prompts], layer)

    def coordinate(x, pos, neg):  # (x - midpoint) . d / |d|^2
        d = pos.mean(0) - neg.mean(0)
        return (x - (pos.mean(0) + neg.mean(0)) / 2) @ d / (d @ d)

    np.testing.assert_allclose(score.per_prompt, coordinate(bench, admit, deny), atol=1e-4)
    np.testing.assert_allclose(score.diagnostics["variants"]["control"], coordinate(bench, yes, no), atol=1e-4)
    probe = LogisticRegression(C=1.0, max_iter=5000).fit(np.r_[admit, deny], np.r_[np.ones(len(admit)), np.zeros(len(deny))])
    np.testing.assert_allclose(score.diagnostics["variants"]["logistic"], probe.decision_function(bench), atol=1e-3)
    d = score.diagnostics
    assert d["stimuli"] == expected_stimuli and d["layer"] == layer
    assert d["direction_norm"] == pytest.approx(np.linalg.norm(admit.mean(0) - deny.mean(0)), rel=1e-4)
    assert len(d["clean_log_odds"]) == len(d["catch_level"]) == len(score) == len(prompts)
    assert detector.variants() == ("logistic", "control")
    return score


def test_direction_and_probe_equal_hand_computation(tiny_model):
    gen = ScenarioGenerator("defection-probe-test")
    prompts = [gen.intersection("saint", "fitness") for _ in range(3)]
    assert is_zoo_tokenizer(tiny_model.tokenizer)
    score = _check_against_hand_computation(tiny_model, prompts, "zoo")
    assert set(score.greedy) <= {"A", "B", "error"}


def test_plain_english_stimuli_on_a_tiny_hugging_face_llama(tmp_path):
    """Auto-selection picks English for a non-zoo tokenizer; every stimulus word is a known token there."""
    from test_hf_loader import _save_llama
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    from poser_interp.zoo.hf import load_hf_model

    gen = ScenarioGenerator("defection-probe-hf")
    prompts = [gen.intersection("genie", "money") for _ in range(2)]
    split = pre_tokenizers.Whitespace()
    words = sorted({w for t in (*english_stimuli().texts(), *(p.prompt for p in prompts)) for w, _ in split.pre_tokenize_str(t)})
    vocab = {w: i for i, w in enumerate(["<unk>", "<s>", "</s>", "<pad>", *words])}
    _save_llama(tmp_path, vocab_size=len(vocab), max_position_embeddings=256)
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    backend.pre_tokenizer = split
    PreTrainedTokenizerFast(tokenizer_object=backend, bos_token="<s>", eos_token="</s>", pad_token="<pad>",
                            unk_token="<unk>").save_pretrained(tmp_path)
    model = load_hf_model(tmp_path)
    assert not is_zoo_tokenizer(model.tokenizer)
    for text in english_stimuli().texts():
        assert 0 not in model.to_tokens(text, prepend_bos=False)[0].tolist(), text
    _check_against_hand_computation(model, prompts, "english")


def test_config_names_the_stimuli_and_bad_options_fail_cleanly():
    auto = DefectionProbe().config()
    assert set(auto["stimuli_sha256"]) == {"zoo", "english"} and auto["C"] == 1.0
    assert set(DefectionProbe(stimuli="zoo").config()["stimuli_sha256"]) == {"zoo"}
    assert zoo_stimuli().sha256() == auto["stimuli_sha256"]["zoo"] != auto["stimuli_sha256"]["english"]
    with pytest.raises(PoserInputError, match="unknown stimuli"):
        get_detector("defection-probe", stimuli="klingon")


def test_every_zoo_tokenizer_gets_the_zoo_stimuli(zoo_tokenizer):
    """The committed zoo's tokenizer (an older, smaller vocabulary) and today's both get the zoo set;
    a zero-norm direction is an error, never NaN evidence."""
    import torch as _torch

    from poser_interp.errors import PoserInputError
    from poser_interp.strategies.defection_probe import gap_coordinate, is_zoo_tokenizer
    from poser_interp.zoo.load import load_zoo_tokenizer
    from poser_interp.zoo.manifest import ZooManifest

    assert is_zoo_tokenizer(zoo_tokenizer)
    assert is_zoo_tokenizer(load_zoo_tokenizer(ZooManifest.load()))
    same = _torch.ones(3, 4)
    with pytest.raises(PoserInputError, match="identical activations"):
        gap_coordinate(same, same, same)
