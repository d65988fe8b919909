"""Fine-tuning shared by the zoo build, strategy 3 (learning speed) and training against detection.

One small AdamW loop (`run_training`: warm-up and decay, deterministic algorithms, rich progress
bar, early stop), answer-token losses against soft or one-hot targets, seeded batches of prompts with
the letter to learn, and `restored` so a model scored on several benchmark files is trained afresh
on each.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence

import torch
from jaxtyping import Float, Int
from torch import Tensor

from poser_interp.readout import answer_token_ids, model_inputs

Batch = tuple[Int[Tensor, "batch pos"], Int[Tensor, " batch"], Tensor]
LossFn = Callable[[object, Batch], Float[Tensor, ""]]


def run_training(model, batches: Callable[[int], Batch], loss_fn: LossFn, *, steps: int, lr: float,
                 warmup: int = 20, decay: bool = True, weight_decay: float = 0.01, desc: str = "training",
                 progress: bool = True, on_step: Callable[[int, float], bool | None] | None = None,
                 params: Sequence[Tensor] | None = None, clip: Callable[[], object] | None = None) -> list[float]:
    """Optimise `loss_fn` over `batches(step)` for up to `steps` AdamW steps; returns the loss curve.

    The learning rate warms up linearly, then decays linearly to zero (`decay`) or stays constant.
    `on_step(step, loss)` may return True to stop early (e.g. once a policy has converged).
    `params`: what to train (e.g. an adapter's tensors); default every model parameter with grad.
    `clip`: clips the gradients before each step; default their joint norm to 1 (several adapters
    trained as one stack pass one that clips each adapter's own norm).
    """
    from rich.progress import Progress

    params = list(params) if params is not None else [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / max(1, warmup)) * (max(0.0, 1 - s / steps) if decay else 1.0))
    losses: list[float] = []
    model.train()
    deterministic = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)  # CPU embedding backward is otherwise order-dependent
    try:
        with Progress(transient=True, disable=not progress) as bar:
            task = bar.add_task(desc, total=steps)
            for step in range(steps):
                loss = loss_fn(model, batches(step))
                opt.zero_grad(set_to_none=True)
                loss.backward()
                if clip is None:
                    torch.nn.utils.clip_grad_norm_(params, 1.0)
                else:
                    clip()
                opt.step()
                sched.step()
                losses.append(loss.item())
                bar.update(task, advance=1, description=f"{desc} loss {losses[-1]:.3f}")
                if on_step is not None and on_step(step, losses[-1]):
                    break
    finally:
        torch.use_deterministic_algorithms(deterministic)
        model.eval()
    return losses


def soft_answer_loss(model, batch: Batch) -> Float[Tensor, ""]:
    """Cross-entropy at the answer position against a soft target distribution over the vocabulary
    (the top block runs only there: `engine.last_token_logits`)."""
    from poser_interp.engine import last_token_logits

    tokens, lengths, target = batch
    logits = last_token_logits(model, tokens, lengths)
    return -(target.to(logits.device) * torch.log_softmax(logits.float(), dim=-1)).sum(-1).mean()


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


def epoch_sampler(n: int, *, batch_size: int, seed: int) -> Callable[[], list[int]]:
    """Seeded epochs over `range(n)`: each call gives the next `batch_size` indices (a fresh permutation
    is appended whenever fewer remain)."""
    gen = torch.Generator().manual_seed(seed)
    order: list[int] = []

    def draw() -> list[int]:
        nonlocal order
        while len(order) < batch_size:
            order = order + torch.randperm(n, generator=gen).tolist()
        idx, order = order[:batch_size], order[batch_size:]
        return idx

    return draw


def letter_batches(model, prompts: Sequence[str], letters: Sequence[str], *, batch_size: int, seed: int
                   ) -> Callable[[int], Batch]:
    """Seeded epochs over (prompt, letter): one-hot targets on the letter to learn (`A`, `B` or `error`)."""
    if len(prompts) != len(letters) or not prompts:
        raise ValueError(f"letter_batches needs as many letters as prompts (>0), got {len(prompts)} and {len(letters)}")
    draw = epoch_sampler(len(prompts), batch_size=batch_size, seed=seed)

    def batch(step: int) -> Batch:
        idx = draw()
        tokens, lengths = model_inputs(model, [prompts[i] for i in idx])
        return tokens, lengths, answer_targets(model.tokenizer, [letters[i] for i in idx], 1.0)

    return batch


@torch.no_grad()
def letter_probs(model, prompts: Sequence[str], letters: Sequence[str], *, batch_size: int = 64
                 ) -> Float[Tensor, " n"]:
    """P(letter) at the answer position of each prompt (softmax over the whole vocabulary).

    Prompts are batched in order of length (less padding), and the result is in the given order.
    """
    from poser_interp.engine import last_token_logits

    ids = answer_token_ids(model.tokenizer)
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    out = torch.empty(len(prompts))
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        tokens, lengths = model_inputs(model, [prompts[i] for i in rows])
        logp = torch.log_softmax(last_token_logits(model, tokens, lengths).float(), -1)
        target = torch.tensor([ids[letters[i]] for i in rows])
        out[rows] = logp.gather(-1, target[:, None]).squeeze(-1).exp().cpu()
    return out


@contextlib.contextmanager
def restored(model) -> Iterator[None]:
    """Train inside the block; afterwards the model's weights and `requires_grad` flags are as before."""
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    flags = {name: p.requires_grad for name, p in model.named_parameters()}
    try:
        yield
    finally:
        model.load_state_dict(state)
        for name, p in model.named_parameters():
            p.requires_grad_(flags[name])
        model.zero_grad(set_to_none=True)
        model.eval()
