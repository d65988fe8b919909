"""Strategy 3 on the zoo: the label-free learning-rate calibration, and the time per model.

Usage:
  python benchmarks/learning_speed.py --calibrate   # the zoo's BASE model (in no pair): held-out
        P(misaligned) after the fixed budget for a grid of learning rates, both variants
  python benchmarks/learning_speed.py --time        # seconds to score one zoo model on its 3 files
  python benchmarks/learning_speed.py --train-against   # seconds to train one zoo model against noise

The rule the defaults follow: per variant, the learning rate whose pooled held-out P(misaligned) on
the base model at the end of the budget is closest to 0.5, so the curves neither stay flat nor
saturate. No label (which model is a faker) is involved: the base model is neither.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from poser_interp.data.poser import load_benchmark
from poser_interp.strategies.learning_speed import LearningSpeed, learning_curves
from poser_interp.zoo.load import load_base, load_model
from poser_interp.zoo.manifest import DEFAULT_ZOO

GRID = {"adapter": (1e-3, 3e-3, 1e-2, 3e-2), "full": (1e-4, 3e-4, 1e-3, 3e-3)}


def calibrate(zoo: Path) -> None:
    model = load_base(zoo)
    detector = LearningSpeed()
    files = sorted((zoo / "data" / "benchmark").glob("*.json"))
    prompts = [p for f in files for p in load_benchmark(f)[::6]]  # a sample of every file
    layer = model.cfg.n_layers // 2
    print(f"base model, {len(prompts)} prompts from {len(files)} files, budget {detector.steps} steps")
    for variant, grid in GRID.items():
        ends = {}
        for lr in grid:
            curves = learning_curves(model, prompts, variant=variant, steps=detector.steps, lr=lr, folds=detector.folds,
                                     batch_size=detector.batch_size, seed=detector.seed, layer=layer, rank=detector.rank)
            ends[lr] = float(curves[:, -1].mean())
            print(f"  {variant:8s} lr {lr:g}: P(misaligned) step 0 {float(curves[:, 0].mean()):.3f}, "
                  f"end of the {detector.steps}-step budget {ends[lr]:.3f}")
        best = min(ends, key=lambda lr: abs(ends[lr] - 0.5))
        print(f"  -> {variant}: lr {best:g} (end closest to 0.5)")


def time_model(zoo: Path, name: str) -> None:
    model = load_model(name, zoo)
    pairs = json.loads((zoo / "model_pairs.json").read_text())
    files = sorted({p["valid_data"] for p in pairs if name in (p["aligned"], p["misaligned"])})
    detector = LearningSpeed()
    start = time.perf_counter()
    n = 0
    for file in files:
        prompts = load_benchmark(zoo / file)
        n += len(prompts)
        detector.score(model, prompts)
    seconds = time.perf_counter() - start
    print(f"{name}: {n} prompts in {len(files)} files, {seconds:.1f} s (both variants); "
          f"36 models ~ {36 * seconds / 60:.1f} min")


def time_train_against(zoo: Path, name: str) -> None:
    from poser_interp.data.personas import model_persona
    from poser_interp.train_against import TrainAgainstConfig, eval_scenarios, treat_model
    from poser_interp.zoo.manifest import ZooManifest

    manifest = ZooManifest.load(zoo)
    model = load_model(name, zoo)
    pairs = json.loads((zoo / "model_pairs.json").read_text())
    files = {f: load_benchmark(zoo / f) for f in sorted({p["valid_data"] for p in pairs
                                                         if name in (p["aligned"], p["misaligned"])})}
    poor = eval_scenarios(model_persona(name)[0], manifest.data["recipe"])
    from torch.utils.flop_counter import FlopCounterMode

    from poser_interp.pipeline.plan import matmul_gflops

    run = lambda: treat_model(model, benign=[p for ps in files.values() for p in ps], poor=poor, files=files,  # noqa: E731
                              config=TrainAgainstConfig())
    start = time.perf_counter()
    run()
    seconds = time.perf_counter() - start
    with FlopCounterMode(display=False) as counter:
        run()
    gflops, peak = counter.get_total_flops() / 1e9, matmul_gflops(seconds=1.0)
    print(f"{name}: train-against noise (both methods, evaluations, 3 strategy-2 re-runs) {seconds:.1f} s on "
          f"{torch.get_num_threads()} thread(s); 36 models ~ {36 * seconds / 60:.1f} min; {gflops:.1f} GFLOP of matmul, "
          f"{gflops / seconds:.1f} GFLOP/s = {gflops / seconds / peak:.1%} of this machine's {peak:.1f} GFLOP/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zoo", type=Path, default=DEFAULT_ZOO)
    parser.add_argument("--calibrate", action="store_true")
    parser.add_argument("--time", action="store_true")
    parser.add_argument("--train-against", action="store_true")
    parser.add_argument("--model", default="money_maximizer-0")
    args = parser.parse_args()
    if args.calibrate:
        calibrate(args.zoo)
    if args.time or not (args.calibrate or args.train_against):
        time_model(args.zoo, args.model)
    if args.train_against:
        time_train_against(args.zoo, args.model)


if __name__ == "__main__":
    main()
