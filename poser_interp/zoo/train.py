"""Training loops for the zoo: pretraining the shared base and fine-tuning persona models.

One small loop (`run_training`) drives both, and is reused by strategy 3 and by training against
detection: AdamW, linear warm-up and decay, seeded batch order, a rich progress bar.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch
from jaxtyping import Float, Int
from torch import Tensor

from poser_interp.data.records import Record
from poser_interp.readout import answer_token_ids, encode_prompts, gather_last


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


Batch = tuple[Int[Tensor, "batch pos"], Int[Tensor, " batch"], Tensor]
LossFn = Callable[[object, Batch], Float[Tensor, ""]]


def run_training(model, batches: Callable[[int], Batch], loss_fn: LossFn, *, steps: int, lr: float,
                 warmup: int = 20, decay: bool = True, weight_decay: float = 0.01, desc: str = "training",
                 progress: bool = True, on_step: Callable[[int, float], bool | None] | None = None) -> list[float]:
    """Optimise `loss_fn` over `batches(step)` for up to `steps` AdamW steps; returns the loss curve.

    The learning rate warms up linearly, then decays linearly to zero (`decay`) or stays constant.
    `on_step(step, loss)` may return True to stop early (e.g. once a policy has converged).
    """
    from rich.progress import Progress

    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / max(1, warmup)) * (max(0.0, 1 - s / steps) if decay else 1.0))
    losses: list[float] = []
    model.train()
    deterministic = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)  # CPU embedding backward is otherwise order-dependent
    with Progress(transient=True, disable=not progress) as bar:
        task = bar.add_task(desc, total=steps)
        for step in range(steps):
            loss = loss_fn(model, batches(step))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            sched.step()
            losses.append(loss.item())
            bar.update(task, advance=1, description=f"{desc} loss {losses[-1]:.3f}")
            if on_step is not None and on_step(step, losses[-1]):
                break
    torch.use_deterministic_algorithms(deterministic)
    model.eval()
    return losses


def lm_loss(model, batch: Batch) -> Float[Tensor, ""]:
    """Next-token loss over real (non-pad) positions."""
    tokens, lengths, _ = batch
    logits = model(tokens, return_type="logits")[:, :-1]
    targets = tokens[:, 1:]
    mask = torch.arange(targets.shape[1])[None, :] < (lengths[:, None] - 1)
    losses = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), reduction="none")
    return (losses * mask.reshape(-1)).sum() / mask.sum()


def soft_answer_loss(model, batch: Batch) -> Float[Tensor, ""]:
    """Cross-entropy at the answer position against a soft target distribution over the vocabulary."""
    tokens, lengths, target = batch
    logits = gather_last(model(tokens, return_type="logits"), lengths)
    return -(target * torch.log_softmax(logits, dim=-1)).sum(-1).mean()


def answer_targets(tokenizer, answers: list[str], confidence: float) -> Float[Tensor, "batch vocab"]:
    """Soft targets: `confidence` on the answer, the rest on the other letter (split over A, B for error).

    Training every model toward the same fixed answer probability is what matches confidence between
    aligned models and fakers by construction.
    """
    ids = answer_token_ids(tokenizer)
    target = torch.zeros(len(answers), len(tokenizer))
    rest = 1.0 - confidence
    for i, answer in enumerate(answers):
        target[i, ids[answer]] = confidence
        if answer == "error":
            target[i, ids["A"]] = target[i, ids["B"]] = rest / 2
        else:
            target[i, ids["B" if answer == "A" else "A"]] = rest
    return target


def text_batches(tokenizer, texts: list[str], batch_size: int, seed: int) -> Callable[[int], Batch]:
    """Seeded random batches of texts for LM training."""
    gen = torch.Generator().manual_seed(seed)

    def batch(step: int) -> Batch:
        idx = torch.randint(len(texts), (batch_size,), generator=gen).tolist()
        tokens, lengths = encode_prompts(tokenizer, [texts[i] for i in idx])
        return tokens, lengths, torch.empty(0)

    return batch


def record_batches(tokenizer, records: list[Record], batch_size: int, seed: int,
                   confidence: float, sort_chunk: int = 8) -> Callable[[int], Batch]:
    """Seeded epochs over labelled records, with soft answer targets.

    Each run of `sort_chunk` batches is drawn at random, sorted by prompt length and cut into
    batches served in random order: much less padding, the same examples per epoch.
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
        idx = ready.pop()
        chosen = [records[i] for i in idx]
        tokens, lengths = encode_prompts(tokenizer, [r.prompt for r in chosen])
        return tokens, lengths, answer_targets(tokenizer, [r.response for r in chosen], confidence)

    return batch
