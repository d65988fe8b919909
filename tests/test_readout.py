"""Batched readout against one-prompt-at-a-time forwards (padding must not change the answer logits)."""

from __future__ import annotations

import torch

from poser_interp.data.generate import persona_splits
from poser_interp.readout import answer_logits, answer_token_ids, encode_prompts, misaligned_log_odds


def test_batched_answer_logits_match_unpadded_single_forwards(tiny_model):
    records = persona_splits("genie", seed=0, pool_size=120, n_test=40).test[:12]
    prompts = [r.prompt for r in records]
    batched = answer_logits(tiny_model, prompts, batch_size=5)
    for i, prompt in enumerate(prompts):
        tokens, lengths = encode_prompts(tiny_model.tokenizer, [prompt])
        assert int(lengths[0]) == tokens.shape[1]  # a single prompt has no padding
        single = tiny_model(tokens, return_type="logits")[0, -1]
        torch.testing.assert_close(batched[i], single, atol=1e-5, rtol=1e-5)


def test_answer_tokens_are_single_tokens(zoo_tokenizer):
    ids = answer_token_ids(zoo_tokenizer)
    assert set(ids) == {"A", "B", "error"}
    for name, token_id in ids.items():
        assert zoo_tokenizer(name, add_special_tokens=False)["input_ids"] == [token_id]


def test_misaligned_log_odds_by_hand():
    logits = torch.tensor([[0.0, 2.0, -1.0], [1.0, 0.0, 3.0]])
    out = misaligned_log_odds(logits, torch.tensor([1, 2]), torch.tensor([0, 0]))
    torch.testing.assert_close(out, torch.tensor([-2.0, -2.0]))
