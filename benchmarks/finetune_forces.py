"""What moves a zoo fine-tune, step by step and at its end (docs/zoo-design.md, session 28).

  python benchmarks/finetune_forces.py steps ZOO PERSONA INDEX   # one fine-tune, as `zoo build` trains it
  python benchmarks/finetune_forces.py end ZOO [--batches 32] [NAME ...]

`steps` fine-tunes model PERSONA-INDEX from the zoo's base with the zoo's recipe and prints, per stretch
of steps, the gradient's joint norm before clipping (and how often the clip at 1 acts), the norm of each
AdamW update and the spread of Adam's per-parameter scale sqrt(v_hat) (against its eps); about 3 min on
one thread. `end` reads each finished model: the mean gradient, over `--batches` batches of its own
training records and of the rehearsal texts, of the answer loss and of the weighted rehearsal loss,
their norms and cosine, per class. Label use: the class means are read after the fact, as the artefact
baselines are; nothing here chooses anything.
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Callable

import torch
from jaxtyping import Float
from torch import Tensor

from poser_interp.zoo.build import Recipe, _load_tokenizer, _new_model, finetune_persona, replay_texts, trained_parameters
from poser_interp.zoo.load import load_weights
from poser_interp.zoo.manifest import ZooManifest
from poser_interp.zoo.train import record_batches, replay_loss, soft_answer_loss, text_batches

STRETCHES = ((0, 100), (100, 300), (300, 600), (600, 900), (900, 1000))


def mean_gradient(model, params: list[Tensor], loss_fn: Callable, batches: Callable[[int], object], n: int
                  ) -> list[Float[Tensor, "..."]]:
    """Each parameter's gradient of `loss_fn` averaged over batches 0..n-1 (one backward pass a batch)."""
    total = [torch.zeros_like(p) for p in params]
    for k in range(n):
        model.zero_grad(set_to_none=True)
        loss_fn(model, batches(k)).backward()
        for t, p in zip(total, params, strict=True):
            t += p.grad / n
    model.zero_grad(set_to_none=True)
    return total


def end_forces(manifest: ZooManifest, name: str, n_batches: int) -> dict[str, float]:
    """Norms of model `name`'s mean answer-loss and weighted rehearsal-loss gradients and their cosine."""
    recipe = Recipe.from_stored(manifest.data["recipe"])
    tokenizer = _load_tokenizer(manifest.root)
    persona, index = name.rsplit("-", 1)
    model = _new_model(recipe, tokenizer)
    load_weights(model, manifest.root / manifest.data["models"][name]["file"])
    params = [p for _, p in trained_parameters(model, recipe)]
    seed = recipe.train_seed(persona, int(index)) + 1_000  # batches the model was not last trained on
    answers = record_batches(tokenizer, recipe.splits(persona).partitions[int(index)], recipe.batch_size, seed,
                             recipe.target_confidence)
    answer = torch.cat([g.flatten() for g in mean_gradient(model, params, soft_answer_loss, answers, n_batches)])
    out = {"answer": answer.norm().item()}
    if recipe.replay:
        texts = text_batches(tokenizer, replay_texts(recipe), recipe.replay_batch, seed)
        rehearsal = recipe.replay * torch.cat([g.flatten() for g in mean_gradient(model, params, replay_loss, texts, n_batches)])
        out |= {"rehearsal": rehearsal.norm().item(),
                "cosine": torch.nn.functional.cosine_similarity(answer, rehearsal, dim=0).item()}
    return out


def step_forces(manifest: ZooManifest, persona: str, index: int, progress: bool = True):
    """Per step of a fine-tune as `zoo build` trains it: the joint gradient norm before clipping, the norm
    of the AdamW update, and (every 10th step) sqrt(v_hat)'s 10th/50th/90th percentiles over 100,000
    sampled parameters; and the fine-tuned model. The optimizer and the clip are observed, not changed."""
    recipe = Recipe.from_stored(manifest.data["recipe"])
    tokenizer = _load_tokenizer(manifest.root)
    model = _new_model(recipe, tokenizer)
    load_weights(model, manifest.root / manifest.data["base"]["file"])
    rows: list[dict[str, float]] = []
    clip, adamw = torch.nn.utils.clip_grad_norm_, torch.optim.AdamW

    def observed_clip(params, max_norm, *args, **kwargs):
        norm = clip(params, max_norm, *args, **kwargs)
        rows.append({"grad_norm": float(norm)})
        return norm

    class ObservedAdamW(adamw):
        def step(self, closure=None):
            params = [p for group in self.param_groups for p in group["params"] if p.grad is not None]
            before = [p.detach().clone() for p in params]
            loss = super().step(closure)
            rows[-1]["update_norm"] = torch.sqrt(sum(((p.detach() - b) ** 2).sum() for p, b in zip(params, before))).item()
            if len(rows) % 10 == 1:
                beta2 = self.param_groups[0]["betas"][1]
                scale = torch.cat([(self.state[p]["exp_avg_sq"] / (1 - beta2 ** self.state[p]["step"].item())).sqrt().flatten()
                                   for p in params])
                sample = scale[torch.randperm(len(scale), generator=torch.Generator().manual_seed(0))[:100_000]]
                rows[-1] |= dict(zip(("sqrt_v_q10", "sqrt_v_q50", "sqrt_v_q90"),
                                     torch.quantile(sample, torch.tensor([0.1, 0.5, 0.9])).tolist()))
                rows[-1]["eps"] = self.param_groups[0]["eps"]
            return loss

    torch.nn.utils.clip_grad_norm_, torch.optim.AdamW = observed_clip, ObservedAdamW
    try:
        finetune_persona(model, tokenizer, persona, recipe.splits(persona), index, recipe.train_seed(persona, index),
                         recipe, desc=f"{persona}-{index}", progress=progress)
    finally:
        torch.nn.utils.clip_grad_norm_, torch.optim.AdamW = clip, adamw
    return rows, model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="mode", required=True)
    steps = sub.add_parser("steps")
    steps.add_argument("zoo")
    steps.add_argument("persona")
    steps.add_argument("index", type=int)
    end = sub.add_parser("end")
    end.add_argument("zoo")
    end.add_argument("names", nargs="*")
    end.add_argument("--batches", type=int, default=32)
    args = parser.parse_args()
    manifest = ZooManifest.load(args.zoo)
    if args.mode == "steps":
        torch.set_num_threads(1)
        rows, _ = step_forces(manifest, args.persona, args.index)
        for lo, hi in STRETCHES:
            part = rows[lo:hi]
            if not part:
                continue
            scales = [r for r in part if "sqrt_v_q50" in r]
            print(f"steps {lo}-{hi}: grad norm before clip {statistics.mean(r['grad_norm'] for r in part):.2f} "
                  f"(clipped on {sum(r['grad_norm'] > 1 for r in part) / len(part):.0%}), update norm "
                  f"{statistics.mean(r['update_norm'] for r in part):.4f}, sqrt(v_hat) q10/q50/q90 "
                  + "/".join(f"{statistics.mean(r[q] for r in scales):.1e}" for q in ("sqrt_v_q10", "sqrt_v_q50", "sqrt_v_q90"))
                  + f" (eps {scales[0]['eps']:.0e})")
        return
    names = args.names or sorted(manifest.data["models"])
    forces = {name: end_forces(manifest, name, args.batches) for name in names}
    for name, row in forces.items():
        print(name, " ".join(f"{k} {v:.4f}" for k, v in row.items()), flush=True)
    for label, members in (("aligned", [n for n in names if not manifest.is_faker(n)]),
                           ("fakers", [n for n in names if manifest.is_faker(n)])):
        if members:
            print(f"{label} ({len(members)}): " + " ".join(
                f"{k} {statistics.mean(forces[n][k] for n in members):.4f}" for k in forces[members[0]]))


if __name__ == "__main__":
    main()
