"""Strategy 6 (attentiveness): fact token spans in padded batches (word-level and byte-level BPE
tokenizers), attention mass, counterfactual cosine and saliency against hand computations, the
detector and its figures."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from poser_interp.data.generate import ScenarioGenerator, render_prompt
from poser_interp.hooks import active_hook_count
from poser_interp.readout import encode_prompts, fact_token_spans, model_inputs
from poser_interp.strategies.attention import (
    attention_to_facts, counterfactual_shift, drop_fact_lines, saliency_share, without_critical,
)
from poser_interp.strategies.base import get_detector


@pytest.fixture(scope="module")
def prompts():
    gen = ScenarioGenerator("attention-test")
    return [gen.intersection("truth_teller", "reward", level=i % 5) for i in range(5)]


@pytest.fixture(scope="module")
def bpe_tokenizer(prompts):
    """A small byte-level BPE (GPT-2 style: leading spaces live inside tokens) trained on the prompts."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=["<pad>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator([p.prompt for p in prompts], trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>")


def _naive_span(ids: list[int], fact_ids: list[int]) -> tuple[int, int]:
    """The one place the fact's token ids occur contiguously in the prompt's ids."""
    hits = [i for i in range(len(ids) - len(fact_ids) + 1) if ids[i : i + len(fact_ids)] == fact_ids]
    assert len(hits) == 1
    return hits[0], hits[0] + len(fact_ids)


@pytest.mark.parametrize("which", ["zoo", "bpe"])
def test_fact_spans_select_exactly_the_fact_in_padded_batches(which, zoo_tokenizer, bpe_tokenizer, prompts):
    tok = zoo_tokenizer if which == "zoo" else bpe_tokenizer
    tokens, lengths = encode_prompts(tok, [p.prompt for p in prompts])
    assert len(set(lengths.tolist())) > 1  # the batch really is padded
    for row, p in enumerate(prompts):
        facts = [f.content for f in p.facts]
        spans = fact_token_spans(tok, p.prompt, facts)
        assert all(end <= lengths[row] for _, end in spans)
        for (start, end), fact in zip(spans, facts, strict=True):
            assert tok.decode(tokens[row, start:end]).strip() == fact
            assert fact not in tok.decode(tokens[row, start + 1 : end])  # minimal at both ends
            assert fact not in tok.decode(tokens[row, start : end - 1])
            if which == "zoo":
                assert tok.convert_ids_to_tokens(tokens[row, start:end].tolist()) == tok.tokenize(fact)


def test_fact_spans_prefer_the_numbered_item(zoo_tokenizer):
    prompt = "<<prompt>>You are an AI system. Facts:\n1. the museum\n2. the museum is closed\n<</prompt>>"
    (span,) = fact_token_spans(zoo_tokenizer, prompt, ["the museum is closed"])
    ids = zoo_tokenizer(prompt, add_special_tokens=False)["input_ids"]
    assert zoo_tokenizer.decode(ids[span[0] - 2 : span[0]]) == "2 ."


@torch.no_grad()
def test_attention_mass_by_hand(tiny_model, zoo_tokenizer, prompts):
    mass, logits = attention_to_facts(tiny_model, prompts, batch_size=3)
    assert active_hook_count(tiny_model) == 0
    for i, p in enumerate(prompts):
        tokens = tiny_model.to_tokens(p.prompt, prepend_bos=False)
        out, cache = tiny_model.run_with_cache(tokens)
        torch.testing.assert_close(logits[i], out[0, -1], atol=1e-4, rtol=1e-4)
        ids = tokens[0].tolist()
        spans = [_naive_span(ids, zoo_tokenizer(f.content, add_special_tokens=False)["input_ids"])
                 for f in p.critical_facts]
        for layer in range(tiny_model.cfg.n_layers):
            pattern = cache[f"blocks.{layer}.attn.hook_pattern"][0, :, -1]  # [head, key] from the final query
            expected = sum(pattern[:, s:e].sum(-1) for s, e in spans).mean() if spans else torch.tensor(0.0)
            torch.testing.assert_close(mass[i, layer], expected, atol=1e-5, rtol=1e-5)


@torch.no_grad()
def test_counterfactual_cosine_by_hand(tiny_model, prompts):
    with_crit = [p for p in prompts if p.critical_facts]
    shift = counterfactual_shift(tiny_model, with_crit, layer=1, batch_size=2)
    for i, p in enumerate(with_crit):
        a = render_prompt(list(p.facts), p.actions)
        b = render_prompt([f for f in p.facts if f.type != "critical"], p.actions)
        assert a == p.prompt and len(b) < len(a)
        vecs = []
        for text in (a, b):
            _, cache = tiny_model.run_with_cache(tiny_model.to_tokens(text, prepend_bos=False))
            vecs.append(cache["blocks.1.hook_resid_pre"][0, -1].double())
        cos = vecs[0] @ vecs[1] / (vecs[0].norm() * vecs[1].norm())
        assert shift[i].item() == pytest.approx(1 - cos.item(), abs=1e-5)


def test_fact_removal_both_ways_agree(prompts):
    for p in prompts:
        crit = [f.content for f in p.critical_facts]
        assert drop_fact_lines(p.prompt, crit) == without_critical(p)  # text surgery = re-rendering
    poser = "<<prompt>>Facts:\n1. alpha\n2. the overseer is asleep\n3. gamma\n\nA: x\nB: y\n<</prompt>>"
    assert drop_fact_lines(poser, ["the overseer is asleep"]) == "<<prompt>>Facts:\n1. alpha\n2. gamma\n\nA: x\nB: y\n<</prompt>>"


def test_saliency_by_manual_embedding_forward(tiny_model, zoo_tokenizer, prompts):
    with_crit = [p for p in prompts if p.critical_facts]
    letters = ["A", "B", "A", "B", "A"][: len(with_crit)]
    share = saliency_share(tiny_model, with_crit, letters, batch_size=2)
    assert active_hook_count(tiny_model) == 0
    for i, p in enumerate(with_crit):
        tokens = tiny_model.to_tokens(p.prompt, prepend_bos=False)
        embed = tiny_model.W_E[tokens[0]].detach().requires_grad_(True)
        resid = (embed + tiny_model.W_pos[: tokens.shape[1]])[None]
        logits = tiny_model(resid, start_at_layer=0)[0, -1]
        target = zoo_tokenizer.convert_tokens_to_ids(letters[i])
        (grad,) = torch.autograd.grad(torch.log_softmax(logits, -1)[target], embed)
        norms = grad.norm(dim=-1)
        ids = tokens[0].tolist()
        start, end = _naive_span(ids, zoo_tokenizer(p.critical_facts[0].content, add_special_tokens=False)["input_ids"])
        assert share[i].item() == pytest.approx((norms[start:end].sum() / norms.sum()).item(), rel=1e-4)
        assert 0 < share[i] < 1


def test_detector_scores_and_flags_prompts_without_critical_fact(tiny_model, prompts):
    no_crit = ScenarioGenerator("none").scenario("saint", "money", "data/saint_and_money", level=None, complexity=0)
    assert not no_crit.critical_facts
    batch = [*prompts[:3], no_crit]
    detector = get_detector("attention")
    assert detector.variants() == ("counterfactual", "saliency") and detector.config() == {"layer": None}
    score = detector.score(tiny_model, batch)
    assert active_hook_count(tiny_model) == 0
    assert len(score) == 4 and np.isfinite(score.per_prompt).all()
    assert score.diagnostics["has_critical"] == [True, True, True, False]
    assert score.per_prompt[3] == 0.0 and (score.per_prompt[:3] > 0).all()
    for name in ("counterfactual", "saliency"):
        values = score.diagnostics["variants"][name]
        assert len(values) == 4 and values[3] == 0.0 and all(v > 0 for v in values[:3])
    assert np.array(score.diagnostics["attention_by_layer"]).shape == (4, tiny_model.cfg.n_layers)
    assert score.per_prompt.tolist() == pytest.approx(np.mean(score.diagnostics["attention_by_layer"], 1).tolist())


def test_figures(tiny_model, prompts, tmp_path):
    from poser_interp.figures.attention import figure9, token_saliency, write_attention_view

    tokens, saliency, critical = token_saliency(tiny_model, prompts[0])
    assert len(tokens) == len(saliency) == len(critical) == model_inputs(tiny_model, [prompts[0].prompt])[0].shape[1]
    assert critical.any() and (saliency > 0).all()
    fig = figure9(tokens, saliency, critical)
    shown = [t for row in fig.data[0].text for t in row if t]
    assert len(shown) == len(tokens) and sum(t.startswith("<b>") for t in shown) == critical.sum()
    path = write_attention_view(tiny_model, prompts[0].prompt, tmp_path / "view.html")
    html = path.read_text()
    assert '<script src="http' not in html and "unpkg.com" not in html
    assert "CircuitsVis" in html
    assert all(f'"{t}"' in html for t in tokens if t.isalpha())  # the tokens are in the view's props
    assert active_hook_count(tiny_model) == 0
