"""One way into and out of a model: batch prompts, read the answer position, compare A and B.

Every strategy goes through here, so all of them read the same position the same way. Prompts are
right-padded; the answer is predicted at each row's last real token (`lengths - 1`), and causal
attention means the padding after it never matters.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

import torch
from jaxtyping import Float, Int
from torch import Tensor

from poser_interp.errors import PoserInputError
from poser_interp.hooks import capture, intervene, resid_name

ANSWER_TOKENS = ("A", "B", "error")


def encode_prompts(tokenizer, prompts: Sequence[str], *, add_bos: bool = False
                   ) -> tuple[Int[Tensor, "batch pos"], Int[Tensor, " batch"]]:
    """Right-padded token ids and the number of real tokens in each row."""
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "right"
    enc = tokenizer(list(prompts), padding=True, return_tensors="pt", add_special_tokens=add_bos)
    return enc["input_ids"], enc["attention_mask"].sum(-1)


def _fact_start(prompt: str, fact: str, cursor: int) -> int:
    """Where `fact` starts in `prompt`: prefer a numbered-list item at/after `cursor`, then any match."""
    starts = [m.start() for m in re.finditer(re.escape(fact), prompt)]
    if not starts:
        raise PoserInputError(f"fact not found in the prompt: {fact[:60]!r}")
    listed = [s for s in starts if re.search(r"(^|\n)\s*\d+\.\s*$", prompt[:s])]
    groups = ([s for s in listed if s >= cursor], [s for s in starts if s >= cursor], listed, starts)
    return next(group[0] for group in groups if group)


def fact_token_spans(tokenizer, prompt: str, facts: Sequence[str], *, add_bos: bool = False
                     ) -> list[tuple[int, int]]:
    """Half-open token ranges `[start, end)` of each fact's text in `prompt`, as `encode_prompts` tokenizes it.

    Uses the fast tokenizer's character offsets: a token belongs to a fact when its characters overlap
    the fact's. Right padding only appends, so the ranges hold in any batch row of this prompt.
    """
    enc = tokenizer(prompt, add_special_tokens=add_bos, return_offsets_mapping=True)
    offsets = enc["offset_mapping"]
    spans, cursor = [], 0
    for fact in facts:
        if not fact:
            raise PoserInputError("cannot locate an empty fact in the prompt")
        start = _fact_start(prompt, fact, cursor)
        end = start + len(fact)
        inside = [i for i, (a, b) in enumerate(offsets) if b > a and a < end and b > start]
        if not inside:
            raise PoserInputError(f"no token covers the fact {fact[:60]!r}")
        spans.append((inside[0], inside[-1] + 1))
        cursor = end
    return spans


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


@torch.no_grad()
def last_token_residuals(model, prompts: Sequence[str], layers: Sequence[int], *, where: str = "post",
                         batch_size: int = 32) -> tuple[Float[Tensor, "n layer d_model"], Float[Tensor, "n vocab"]]:
    """The residual stream at each row's last real token for each of `layers`, and the clean next-token
    logits, from one forward per batch (float32, on the CPU)."""
    names = [resid_name(layer, where) for layer in layers]
    resid, logits = [], []
    for chunk in batched(prompts, batch_size):
        tokens, lengths = model_inputs(model, chunk)
        store: dict[str, Tensor] = {}
        with intervene(model, [(name, capture(store, positions=lengths - 1)) for name in names]):
            out = model(tokens, return_type="logits")
        resid.append(torch.stack([store[name] for name in names], dim=1).float().cpu())
        logits.append(gather_last(out, lengths).float().cpu())
    return torch.cat(resid), torch.cat(logits)
