"""One way into and out of a model: batch prompts, read the answer position, compare A and B.

Every strategy goes through here, so all of them read the same position the same way. Prompts are
right-padded; the answer is predicted at each row's last real token (`lengths - 1`), and causal
attention means the padding after it never matters.

Real tokenizers are handled here too: a prompt is wrapped in the tokenizer's chat template when it
has one (as a user turn, with the generation prompt), BOS is added only where the model expects it,
and the answer tokens are the ones the tokenizer produces right after a prompt (`A`, ` A` or `▁A`).
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
# How every Poser (and zoo) prompt ends; the answer letter is resolved as the token that follows it.
PROMPT_END = "\n<</prompt>>"


def format_prompt(tokenizer, prompt: str) -> str:
    """The text the model reads: `prompt` as a user turn of the tokenizer's chat template (with the
    assistant's generation prompt) when it has one, else `prompt` itself. Set `tokenizer.chat_template
    = None` to feed raw prompts to a chat model."""
    if not getattr(tokenizer, "chat_template", None):
        return prompt
    return tokenizer.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False,
                                         add_generation_prompt=True)


def _special_tokens(tokenizer, add_bos: bool) -> bool:
    """Whether the tokenizer adds its special tokens (BOS): never on chat-formatted text, which already
    carries what the template puts there."""
    return add_bos and not getattr(tokenizer, "chat_template", None)


def encode_prompts(tokenizer, prompts: Sequence[str], *, add_bos: bool = False
                   ) -> tuple[Int[Tensor, "batch pos"], Int[Tensor, " batch"]]:
    """Right-padded token ids (chat-formatted where the tokenizer has a template) and each row's length."""
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "right"
    texts = [format_prompt(tokenizer, p) for p in prompts]
    enc = tokenizer(texts, padding=True, return_tensors="pt", add_special_tokens=_special_tokens(tokenizer, add_bos))
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
    the fact's. Right padding only appends, so the ranges hold in any batch row of this prompt. With a
    chat template the facts are looked for inside the prompt's part of the formatted text.
    """
    text = format_prompt(tokenizer, prompt)
    enc = tokenizer(text, add_special_tokens=_special_tokens(tokenizer, add_bos), return_offsets_mapping=True)
    offsets = enc["offset_mapping"]
    spans, cursor = [], text.find(prompt) if prompt else 0
    for fact in facts:
        if not fact:
            raise PoserInputError("cannot locate an empty fact in the prompt")
        start = _fact_start(text, fact, cursor)
        end = start + len(fact)
        inside = [i for i, (a, b) in enumerate(offsets) if b > a and a < end and b > start]
        if not inside:
            raise PoserInputError(f"no token covers the fact {fact[:60]!r}")
        spans.append((inside[0], inside[-1] + 1))
        cursor = end
    return spans


def answer_token_ids(tokenizer) -> dict[str, int]:
    """Token ids of `A`, `B` (and `error`) as the model emits them right after a prompt, for each that is
    one token there (`A` for the zoo, ` A`/`▁A` or `A` for BPE and SentencePiece, by the tokenizer).

    Found by tokenizing a formatted prompt ending with and without the answer: the answer is its token
    only when it adds exactly one token and leaves the prompt's tokens as they were.
    """
    context = format_prompt(tokenizer, PROMPT_END)
    base = tokenizer(context, add_special_tokens=False)["input_ids"]
    ids = {}
    for answer in ANSWER_TOKENS:
        full = tokenizer(context + answer, add_special_tokens=False)["input_ids"]
        if len(full) == len(base) + 1 and full[: len(base)] == base and full[-1] != tokenizer.unk_token_id:
            ids[answer] = full[-1]
    return ids


def gather_last(values: Float[Tensor, "batch pos *rest"], lengths: Int[Tensor, " batch"]) -> Float[Tensor, "batch *rest"]:
    """The entry at each row's last real position."""
    return values[torch.arange(values.shape[0]), lengths - 1]


def batched(items: Sequence, size: int) -> Iterator[Sequence]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def model_inputs(model, prompts: Sequence[str]) -> tuple[Int[Tensor, "batch pos"], Int[Tensor, " batch"]]:
    """Tokens for `model` (its own tokenizer; BOS only where the model expects one)."""
    return encode_prompts(model.tokenizer, prompts, add_bos=bool(model.cfg.default_prepend_bos))


def last_logits(model, tokens: Int[Tensor, "batch pos"], lengths: Int[Tensor, " batch"]) -> Float[Tensor, "batch vocab"]:
    """Next-token logits at each row's last real token only: the unembedding is applied to those rows,
    not to every position (a 50k vocabulary x 300 positions x a batch would be gigabytes)."""
    from transformer_lens.utils import apply_softcap

    from poser_interp import fused

    if fused.fused_ok(model):
        return fused.last_logits(model, tokens, lengths)
    last = gather_last(model(tokens, stop_at_layer=model.cfg.n_layers), lengths)[:, None]
    if model.cfg.normalization_type is not None:
        last = model.ln_final(last)
    return apply_softcap(model.unembed(last), model.cfg.output_logits_soft_cap)[:, 0]


Encoded = list[tuple[list[int], Tensor, Tensor]]  # (rows, tokens [batch pos], lengths [batch]) per batch


def length_batches(texts: Sequence[str], size: int) -> list[list[int]]:
    """Indices of `texts` in batches of similar length (less padding); every index once."""
    order = sorted(range(len(texts)), key=lambda i: (len(texts[i]), i))
    return [order[start : start + size] for start in range(0, len(order), size)]


def encode_batches(model, prompts: Sequence[str], *, batch_size: int = 64) -> Encoded:
    """`prompts` tokenized once, in right-padded batches of similar length (less padding), each with the
    indices of its rows: for code that runs the same prompts through many variants of a model."""
    return [(rows, *model_inputs(model, [prompts[i] for i in rows])) for rows in length_batches(prompts, batch_size)]


@torch.no_grad()
def encoded_logits(model, batches: Encoded) -> Float[Tensor, "n vocab"]:
    """Next-token logits after each prompt of `encode_batches`, in the prompts' order (float32, on the CPU)."""
    n = sum(len(rows) for rows, _, _ in batches)
    out = torch.empty(n, model.cfg.d_vocab_out)
    for rows, tokens, lengths in batches:
        out[rows] = last_logits(model, tokens, lengths).float().cpu()
    return out


def answer_logits(model, prompts: Sequence[str], *, batch_size: int = 64) -> Float[Tensor, "n vocab"]:
    """Next-token logits after each prompt, computed in right-padded batches (float32, on the CPU)."""
    return encoded_logits(model, encode_batches(model, prompts, batch_size=batch_size))


def letter_ids(tokenizer, letters: Sequence[str]) -> Int[Tensor, " n"]:
    """The answer token id of each letter; one clear error when a letter is not one token after a prompt."""
    ids = answer_token_ids(tokenizer)
    missing = sorted({letter for letter in letters} - set(ids))
    if missing:
        raise PoserInputError(f"the model's tokenizer has no single answer token for {', '.join(map(repr, missing))} "
                              f"after a prompt ending {PROMPT_END!r}")
    return torch.tensor([ids[letter] for letter in letters], dtype=torch.long)


def pick(logits: Float[Tensor, "*batch vocab"], ids: Int[Tensor, "*batch"]) -> Float[Tensor, "*batch"]:
    return logits.gather(-1, ids.to(logits.device).unsqueeze(-1)).squeeze(-1)


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
            out = last_logits(model, tokens, lengths)
        resid.append(torch.stack([store[name] for name in names], dim=1).float().cpu())
        logits.append(out.float().cpu())
    return torch.cat(resid), torch.cat(logits)
