"""Every strategy, old implementation vs new, side by side on the same few zoo models.

Usage: python benchmarks/pipeline_speed.py [--zoo DIR] [--models A,B] [--file F] [--prompts N]
       [--strategies noise,steering,...] [--threads T]

Per strategy at its defaults: wall time of the old code path and of the current one on each model x
the benchmark file (old: the pre-engine loops of `legacy.py` where the strategy had one, else today's
code, in both cases on TransformerLens's own forward, `fused.unfused()`), their ratio, the largest difference of the per-prompt scores
and of every number in the diagnostics; the matmul FLOPs the current path does (counted by
`torch.utils.flop_counter`) and its share of the machine's measured matmul throughput; and the
full-zoo time the per-model-file time extrapolates to (a model's first file at the first call's
time, its other files at a second call's, which reuses per-model work such as steering's direction). Strategies without an old path run once.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from legacy import legacy  # noqa: E402

from poser_interp.data.poser import load_benchmark  # noqa: E402
from poser_interp.fused import unfused  # noqa: E402
from poser_interp.pipeline.plan import matmul_gflops  # noqa: E402
from poser_interp.pipeline.reproduce import STRATEGIES  # noqa: E402
from poser_interp.strategies.base import get_detector  # noqa: E402
from poser_interp.zoo.load import load_model  # noqa: E402
from poser_interp.zoo.manifest import DEFAULT_ZOO  # noqa: E402


def largest_difference(new, old) -> float:
    """The largest absolute difference between two JSON-like trees of numbers (inf if they differ in shape)."""
    if isinstance(old, dict):
        if set(new) != set(old):
            return float("inf")
        return max((largest_difference(new[k], old[k]) for k in old), default=0.0)
    if isinstance(old, (list, tuple)):
        if len(new) != len(old):
            return float("inf")
        return max((largest_difference(a, b) for a, b in zip(new, old, strict=True)), default=0.0)
    if isinstance(old, (int, float)) and not isinstance(old, bool):
        return abs(float(new) - float(old)) if np.isfinite(old) else (0.0 if new == old else float("inf"))
    return 0.0 if new == old else float("inf")


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def counted_flops(fn) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zoo", type=Path, default=DEFAULT_ZOO)
    parser.add_argument("--models", default="truth_teller-0,money_maximizer-0")
    parser.add_argument("--file", default=None, help="benchmark file (default: the first both models are compared on)")
    parser.add_argument("--prompts", type=int, default=None, help="first N prompts of the file (default: all)")
    parser.add_argument("--strategies", default=",".join(STRATEGIES))
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    names = args.models.split(",")
    pairs = json.loads((args.zoo / "model_pairs.json").read_text())
    files_of = {m: {p["valid_data"] for p in pairs if m in (p["aligned"], p["misaligned"])} for m in names}
    file = args.file or sorted(set.intersection(*files_of.values()) or files_of[names[0]])[0]
    prompts = load_benchmark(args.zoo / file)[: args.prompts]
    model_files = sum(len(fs) for fs in _files_by_model(pairs).values())
    peak = matmul_gflops(seconds=1.0)
    print(f"{len(names)} models ({', '.join(names)}) x {file} ({len(prompts)} prompts), {args.threads} thread(s); "
          f"matmul throughput {peak:.1f} GFLOP/s; the zoo has {model_files} model-files")
    print()
    print("| strategy | old (s) | new (s) | speed-up | largest score difference | largest diagnostics difference "
          "| new GFLOP | new GFLOP/s | share of matmul | full zoo, new (min) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for strategy in args.strategies.split(","):
        old_s = new_s = again_s = 0.0
        score_diff = diag_diff = 0.0
        has_old = False
        flops = 0
        for name in names:
            model = load_model(name, args.zoo)
            with legacy(strategy) as has_legacy, unfused():  # old: TransformerLens's forward throughout
                old, seconds = timed(lambda: get_detector(strategy).score(model, prompts))  # noqa: B023
                old_s += seconds
                has_old = True
            detector = get_detector(strategy)
            new, seconds = timed(lambda: detector.score(model, prompts))  # noqa: B023
            new_s += seconds
            again_s += timed(lambda: detector.score(model, prompts))[1]  # noqa: B023  (per-model work cached)
            if has_old:
                score_diff = max(score_diff, float(np.abs(new.per_prompt - old.per_prompt).max()))
                diag_diff = max(diag_diff, largest_difference(new.diagnostics, old.diagnostics))
            if name == names[0]:
                flops = counted_flops(lambda: get_detector(strategy).score(model, prompts))  # noqa: B023
        per_model = new_s / len(names)
        gflops = flops / 1e9
        rate = gflops / per_model
        n_models = len(_files_by_model(pairs))
        full_zoo = (n_models * per_model + (model_files - n_models) * again_s / len(names)) \
            * _prompt_share(args.zoo, prompts, pairs) / 60
        old_cols = f"{old_s:.1f} | {new_s:.1f} | {old_s / new_s:.1f}x | {score_diff:.1e} | {diag_diff:.1e}"
        print(f"| {strategy}{'' if has_legacy else ' (no legacy loop)'} | {old_cols} | {gflops:.2f} | {rate:.1f} | {rate / peak:.1%} | {full_zoo:.1f} |",
              flush=True)


def _files_by_model(pairs) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for p in pairs:
        for m in (p["aligned"], p["misaligned"]):
            out.setdefault(m, set()).add(p["valid_data"])
    return out


def _prompt_share(zoo: Path, prompts, pairs) -> float:
    """Mean prompts per model-file of the zoo over the prompts timed (scales the per-model-file time)."""
    sizes = [len(load_benchmark(zoo / f)) for fs in _files_by_model(pairs).values() for f in fs]
    return float(np.mean(sizes)) / len(prompts)


if __name__ == "__main__":
    main()
