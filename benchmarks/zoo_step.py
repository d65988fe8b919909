"""How close a zoo fine-tune runs to this machine's matmul throughput (zoo v2 issue, build target).

  python benchmarks/zoo_step.py [--zoo checkpoints/zoo] [--persona money_maximizer] [--threads 1]

Fine-tunes one model from the zoo's base with the zoo's own recipe (answer batch plus rehearsal, as
`zoo build` does) for 10 and for 60 steps, and takes the difference, so that what every run pays once
(the validation pass at the end, the rehearsal texts) drops out: seconds and matmul GFLOP per step
(`torch.utils.flop_counter`), and that rate as a share of a model-shaped matmul's rate on the same
threads. `zoo build --workers 2` runs two such one-thread processes at once.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from poser_interp.pipeline.plan import matmul_gflops
from poser_interp.zoo.build import Recipe, _load_tokenizer, _new_model, finetune_persona
from poser_interp.zoo.load import load_weights
from poser_interp.zoo.manifest import DEFAULT_ZOO, ZooManifest


def main(zoo: Path, persona: str, threads: int) -> None:
    torch.set_num_threads(threads)
    manifest = ZooManifest.load(zoo)
    recipe = Recipe.from_stored(manifest.data["recipe"])
    tokenizer = _load_tokenizer(manifest.root)
    splits = recipe.splits(persona)

    def run(steps: int, count: bool) -> float:
        """Seconds (or matmul FLOPs, with `count`) of a `steps`-step fine-tune from the base."""
        model = _new_model(recipe, tokenizer)
        load_weights(model, manifest.root / manifest.data["base"]["file"])
        short = replace(recipe, finetune_steps=steps, anneal_steps=1, validation_every=10 ** 9)
        torch.manual_seed(0)
        start = time.perf_counter()
        if count:
            with FlopCounterMode(display=False) as counter:
                finetune_persona(model, tokenizer, persona, splits, 0, 0, short, desc="step", progress=False)
            return float(counter.get_total_flops())
        finetune_persona(model, tokenizer, persona, splits, 0, 0, short, desc="step", progress=False)
        return time.perf_counter() - start

    run(5, False)  # warm-up
    seconds = (run(60, False) - run(10, False)) / 50
    gflop = (run(60, True) - run(10, True)) / 50 / 1e9
    peak = matmul_gflops(seconds=1.0)
    print(f"{zoo}: recipe {recipe.finetune_key()}, {persona}, {threads} thread(s): {seconds * 1000:.0f} ms a step, "
          f"{gflop:.2f} GFLOP of matmul a step, {gflop / seconds:.1f} GFLOP/s = {gflop / seconds / peak:.0%} of a "
          f"model-shaped matmul's {peak:.1f} GFLOP/s on the same threads; {recipe.finetune_steps + recipe.anneal_steps} "
          f"steps ~ {(recipe.finetune_steps + recipe.anneal_steps) * seconds:.0f} s of training a model")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--zoo", type=Path, default=DEFAULT_ZOO)
    parser.add_argument("--persona", default="money_maximizer")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    main(args.zoo, args.persona, args.threads)
