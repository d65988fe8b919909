"""One way into and out of a model: batch prompts, read the answer position, compare A and B.

Every strategy goes through here, so all of them read the same position the same way. Prompts are
right-padded; the answer is predicted at each row's last real token (`lengths - 1`), and causal
attention means the padding after it never matters.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
from jaxtyping import Float, Int
from torch import Tensor

ANSWER_TOKENS = ("A", "B", "error")


def encode_prompts(tokenizer, prompts: Sequence[str], *, add_bos: bool = False
                   ) -> tuple[Int[Tensor, "batch pos"], Int[Tensor, " batch"]]:
    """Right-padded token ids and the number of real tokens in each row."""
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "right"
    enc = tokenizer(list(prompts), padding=True, return_tensors="pt", add_special_tokens=add_bos)
    return enc["input_ids"], enc["attention_mask"].sum(-1)


def answer_token_ids(tokenizer) -> dict[str, int]:
    """Token ids of `A`, `B` (and `error` where it is one token) as the model emits them."""
    ids = dict(zip(ANSWER_TOKENS, tokenizer.convert_tokens_to_ids(list(ANSWER_TOKENS)), strict=True))
    return {k: v for k, v in ids.items() if v is not None and v != tokenizer.unk_token_id}


def gather_last(values: Float[Tensor, "batch pos *rest"], lengths: Int[Tensor, " batch"]) -> Float[Tensor, "batch *rest"]:
    """The entry at each row's last real position."""
    return values[torch.arange(values.shape[0]), lengths - 1]


def batched(items: Sequence, size: int) -> Iterator[Sequence]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def model_inputs(model, prompts: Sequence[str]) -> tuple[Int[Tensor, "batch pos"], Int[Tensor, " batch"]]:
    """Tokens for `model` (its own tokenizer; BOS only where the model expects one)."""
    return encode_prompts(model.tokenizer, prompts, add_bos=bool(model.cfg.default_prepend_bos))


@torch.no_grad()
def answer_logits(model, prompts: Sequence[str], *, batch_size: int = 64) -> Float[Tensor, "n vocab"]:
    """Next-token logits after each prompt, computed in right-padded batches."""
    out = []
    for chunk in batched(prompts, batch_size):
        tokens, lengths = model_inputs(model, chunk)
        out.append(gather_last(model(tokens, return_type="logits"), lengths))
    return torch.cat(out)


def letter_ids(tokenizer, letters: Sequence[str]) -> Int[Tensor, " n"]:
    ids = answer_token_ids(tokenizer)
    return torch.tensor([ids[letter] for letter in letters], dtype=torch.long)


def pick(logits: Float[Tensor, "*batch vocab"], ids: Int[Tensor, "*batch"]) -> Float[Tensor, "*batch"]:
    return logits.gather(-1, ids.unsqueeze(-1)).squeeze(-1)


def misaligned_log_odds(logits: Float[Tensor, "*batch vocab"], benign_id: Int[Tensor, "*batch"],
                        misaligned_id: Int[Tensor, "*batch"]) -> Float[Tensor, "*batch"]:
    """log P(misaligned action) - log P(benign action): negative when the model acts benignly."""
    return pick(logits, misaligned_id) - pick(logits, benign_id)
