"""Training the zoo: the architecture, pretraining batches and losses, persona fine-tuning batches.

The optimisation loop itself is `poser_interp.finetune.run_training`, shared with strategy 3 and
with training against detection.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch
from jaxtyping import Bool, Float, Int
from torch import Tensor

from poser_interp.data.records import Record
from poser_interp.finetune import Batch, LossFn, answer_targets, run_training, soft_answer_loss  # noqa: F401
from poser_interp.readout import encode_prompts


@dataclass(frozen=True)
class Architecture:
    """The zoo's HookedTransformer shape (all 36 models and the base share it)."""

    n_layers: int = 4
    d_model: int = 96
    n_heads: int = 4
    d_mlp: int = 256
    n_ctx: int = 160

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


def make_model(arch: Architecture, d_vocab: int, seed: int):  # -> HookedTransformer
    """A freshly initialised HookedTransformer on CPU (LayerNorm, GELU, learned positions, no BOS)."""
    from transformer_lens import HookedTransformer, HookedTransformerConfig

    cfg = HookedTransformerConfig(
        n_layers=arch.n_layers, d_model=arch.d_model, n_heads=arch.n_heads, d_head=arch.d_model // arch.n_heads,
        d_mlp=arch.d_mlp, n_ctx=arch.n_ctx, d_vocab=d_vocab, act_fn="gelu", normalization_type="LN",
        default_prepend_bos=False, seed=seed, device="cpu",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TL 3.x deprecation notice for HookedTransformer
        model = HookedTransformer(cfg)
    for block in model.blocks:
        # Softmax ignores a key bias, so its exact gradient is zero; Adam would turn the float noise
        # of that zero into real updates and make builds irreproducible. It stays at zero.
        block.attn.b_K.requires_grad_(False)
    return model


def lm_loss(model, batch: Batch) -> Float[Tensor, ""]:
    """Next-token loss over real (non-pad) positions: the base's pretraining loss, in the flattened
    order the committed base was trained in, so that a cold `zoo build` reproduces it bit for bit
    (docs/zoo-design.md, session 20)."""
    return _next_token_loss(model, batch, skip=None, flat=True)


def replay_loss(model, batch: Batch) -> Float[Tensor, ""]:
    """`lm_loss` without the prediction right after each prompt's closing tag: rehearses what the
    base says about a scenario without asking for its first word where the persona's answer is
    trained (the two would pull the same position to different tokens)."""
    from poser_interp.data.grammar import PROMPT_CLOSE

    return _next_token_loss(model, batch, skip=model.tokenizer.convert_tokens_to_ids(PROMPT_CLOSE))


def _next_token_loss(model, batch: Batch, skip: int | None, flat: bool = False) -> Float[Tensor, ""]:
    """Mean next-token loss over real positions, leaving out predictions made at token `skip`."""
    losses, real = next_token_losses(model, batch, flat=flat)
    if skip is not None:
        real = real & (batch[0][:, :-1] != skip)
    return (losses * real).sum() / real.sum()


def next_token_losses(model, batch: Batch, flat: bool = False
                      ) -> tuple[Float[Tensor, "batch pos-1"], Bool[Tensor, "batch pos-1"]]:
    """Each position's next-token loss (the prediction made there) and which positions are real text.
    `flat` runs the cross-entropy over flattened positions: the same values, but its backward pass sums
    in another order, the one the committed base was trained with (the committed fine-tunes'
    rehearsal used the per-position form), so each keeps its own to stay reproducible bit for bit."""
    from poser_interp import fused

    tokens, lengths, _ = batch
    logits = fused.logits(model, tokens)[:, :-1]
    targets = tokens[:, 1:]
    real = torch.arange(targets.shape[1])[None, :] < (lengths[:, None] - 1)
    if flat:
        losses = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1),
                                                   reduction="none").view(targets.shape)
    else:
        losses = torch.nn.functional.cross_entropy(logits.transpose(1, 2), targets, reduction="none")
    return losses, real


def text_batches(tokenizer, texts: list[str], batch_size: int, seed: int) -> Callable[[int], Batch]:
    """Seeded random batches of texts for LM training."""
    gen = torch.Generator().manual_seed(seed)

    def batch(step: int) -> Batch:
        idx = torch.randint(len(texts), (batch_size,), generator=gen).tolist()
        tokens, lengths = encode_prompts(tokenizer, [texts[i] for i in idx])
        return tokens, lengths, torch.empty(0)

    return batch


def record_batches(tokenizer, records: list[Record], batch_size: int, seed: int,
                   confidence: float, sort_chunk: int = 8, add_bos: bool = False) -> Callable[[int], Batch]:
    """Seeded epochs over labelled records, with soft answer targets.

    Each run of `sort_chunk` batches is drawn at random, sorted by prompt length and cut into
    batches served in random order: much less padding, the same examples per epoch. `add_bos`: as
    `readout.model_inputs` encodes for a model that expects BOS.
    """
    gen = torch.Generator().manual_seed(seed)
    order: list[int] = []
    ready: list[list[int]] = []
    prompt_chars = [len(r.prompt) for r in records]

    def batch(step: int) -> Batch:
        nonlocal order, ready
        if not ready:
            while len(order) < batch_size * sort_chunk:
                order = order + torch.randperm(len(records), generator=gen).tolist()
            chunk, order = order[: batch_size * sort_chunk], order[batch_size * sort_chunk :]
            chunk.sort(key=lambda i: prompt_chars[i])
            ready = [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
            ready = [ready[i] for i in torch.randperm(len(ready), generator=gen).tolist()]
        return records_batch(tokenizer, [records[i] for i in ready.pop()], confidence, add_bos=add_bos)

    return batch


def records_batch(tokenizer, records: list[Record], confidence: float, add_bos: bool = False) -> Batch:
    """One batch of labelled records: their prompts encoded and soft targets on their answers."""
    tokens, lengths = encode_prompts(tokenizer, [r.prompt for r in records], add_bos=add_bos)
    return tokens, lengths, answer_targets(tokenizer, [r.response for r in records], confidence)
