"""Strategy 2 speed: the engine path (one clean pass, last position only) against the naive loop, on one zoo model.

Usage: python benchmarks/noise_speed.py [--zoo DIR] [--model NAME] [--prompts N] [--draws D]
Prints both wall times, their ratio, and the largest difference between the two (must be <= 1e-4).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from poser_interp.data.poser import load_benchmark
from poser_interp.strategies.noise import DEFAULT_COEFFICIENTS, noise_effects, noise_effects_naive
from poser_interp.zoo.load import load_model
from poser_interp.zoo.manifest import DEFAULT_ZOO


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zoo", type=Path, default=DEFAULT_ZOO)
    parser.add_argument("--model", default="money_maximizer-0")
    parser.add_argument("--prompts", type=int, default=10)
    parser.add_argument("--draws", type=int, default=16)
    args = parser.parse_args()
    torch.set_num_threads(2)
    model = load_model(args.model, zoo=args.zoo)
    pairs = json.loads((args.zoo / "model_pairs.json").read_text())
    file = next(p["valid_data"] for p in pairs if args.model in (p["aligned"], p["misaligned"]))
    prompts = load_benchmark(args.zoo / file)[: args.prompts]
    kwargs = dict(layer=model.cfg.n_layers // 2, coefficients=DEFAULT_COEFFICIENTS, n_draws=args.draws,
                  seed=0, family="gaussian")
    start = time.perf_counter()
    fast = noise_effects(model, prompts, **kwargs)
    fast_s = time.perf_counter() - start
    start = time.perf_counter()
    slow = noise_effects_naive(model, prompts, **kwargs)
    slow_s = time.perf_counter() - start
    diff = max(float((getattr(fast, f) - getattr(slow, f)).abs().max())
               for f in ("p_misaligned", "ab_mass", "log_odds", "flip_rate"))
    n = len(prompts) * len(DEFAULT_COEFFICIENTS) * args.draws
    print(f"{len(prompts)} prompts x {len(DEFAULT_COEFFICIENTS)} coefficients x {args.draws} draws = {n} noisy forwards")
    print(f"engine (one clean pass, then the last position only): {fast_s:.2f} s")
    print(f"naive (one full forward per draw per coefficient): {slow_s:.2f} s")
    print(f"speed-up: {slow_s / fast_s:.1f}x, max abs difference {diff:.2e} ({'ok' if diff <= 1e-4 else 'MISMATCH'})")


if __name__ == "__main__":
    main()
