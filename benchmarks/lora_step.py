"""Seconds per LoRA training step of SmolLM2-135M with the mini-zoo recipe (`zoo lora`), for the estimate
in docs/real_models.md.

Usage:
  OMP_NUM_THREADS=1 python benchmarks/lora_step.py [--batch 8] [--device cpu] [--dtype float32]

Loads SmolLM2 once (about 11 s and 5 GB of RAM on CPU), prints the mean prompt length with the chat
template, then times two single steps, each of a fresh throwaway adapter (the base is left as it was).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

import torch

from poser_interp.data.generate import persona_splits
from poser_interp.readout import model_inputs
from poser_interp.zoo.lora_zoo import LoraRecipe, load_base, seconds_per_step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32")
    args = parser.parse_args()
    if args.device == "cpu":
        torch.set_num_threads(1)
    t0 = time.time()
    base = load_base("smollm2-135m", device=args.device, dtype=args.dtype)
    print(f"load {time.time() - t0:.1f} s", flush=True)
    for p in base.parameters():
        p.requires_grad_(False)
    recipe = replace(LoraRecipe(), batch_size=args.batch, dtype=args.dtype)
    records = persona_splits("truth_teller", seed=0).partitions[0][:64]
    _, lengths = model_inputs(base, [r.prompt for r in records])
    print(f"tokens per prompt: mean {lengths.float().mean():.0f}, max {lengths.max()}", flush=True)
    print(f"first step {seconds_per_step(base, recipe, 1):.2f} s", flush=True)
    print(f"second step {seconds_per_step(base, recipe, 1):.2f} s", flush=True)


if __name__ == "__main__":
    main()
