"""Does a strategy ride a training artefact? Each strategy's pair accuracy split by whether an artefact
baseline calls the pair right (zoo v2 issue: "say plainly which strategies survive the change and
which only rode the artefacts").

  python benchmarks/artefact_split.py ZOO [--runs runs] [--seed 0] [--markdown]

Reads the finished run folders of ZOO under `--runs` (those `poser-interp benchmark --zoo ZOO` or
`figures` wrote; training against noise keeps no per-prompt scores and is left out), re-evaluates every
strategy and each of its variants on two subsets of the pairs: those the artefact baseline (the weight
distance from the base, then the largest block update) calls right, and those it calls wrong, with the
same blind evaluator and model-level 95% intervals as the results table. A strategy whose accuracy
falls to chance where the artefact is wrong rode it; one that holds up where the artefact is wrong
did not. The subsets are drawn with the labels, which is what an evaluation may do; no detector sees
them.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from poser_interp.data.poser import ModelPair, load_model_pairs
from poser_interp.evaluation.pairs import evaluate_pairs
from poser_interp.pipeline.blind import aliases
from poser_interp.pipeline.folder import RunFolder, variant_scores
from poser_interp.pipeline.runs import blind_finalize, default_run_dir
from poser_interp.strategies.base import get_detector
from poser_interp.zoo.manifest import ZooManifest

ARTEFACT_ROWS = (("artefacts", None), ("artefacts", "block-update"))  # (run strategy, variant): main = weight distance


def run_folders(runs: Path, zoo: Path, seed: int) -> dict[str, Path]:
    """`{strategy: run folder}` of the finished runs on `zoo` as it is now: a folder counts when its name is
    the default run key of its own config on this zoo's manifest and `seed` (a run on an earlier manifest
    of the same folder does not)."""
    found: dict[str, Path] = {}
    for folder in sorted(runs.iterdir()):
        config_path, metrics_path = folder / "config.json", folder / "metrics.json"
        if not (config_path.is_file() and metrics_path.is_file() and (folder / "scores.jsonl").is_file()):
            continue
        config = json.loads(config_path.read_text())
        if Path(config.get("benchmark_dir", "")).resolve() != zoo.resolve() or config.get("seed") != seed:
            continue
        if folder.name == default_run_dir(config["strategy"], config["config"], zoo, seed).name:
            found[config["strategy"]] = folder
    return found


def final_scores(folder: Path, seed: int):
    """A run's per-(model, file) scores as its pairs were judged: after the detector's own label-free
    `finalize` (e.g. noise picks its coefficient there), run blind as `run_strategy` runs it. None when the
    run's config is not its strategy's default (this script rebuilds only default detectors)."""
    config = json.loads((folder / "config.json").read_text())
    detector = get_detector(config["strategy"]) if config["strategy"] != "artefacts" else None
    stored = {key: score for key, (_, score) in RunFolder(folder).read_scores().items()}
    if detector is None:
        return stored
    if json.loads(json.dumps(detector.config())) != config["config"]:
        return None
    models = sorted({m for m, _ in stored})
    return blind_finalize(detector, stored, aliases(models, seed), sorted({f for _, f in stored}))[0]


def variants_of(folder: Path) -> list[str]:
    return sorted(json.loads((folder / "metrics.json").read_text()).get("variants", {}))


def split_rows(zoo: Path, runs: Path, seed: int = 0):
    """`(splits, rows)`: for each artefact, the pairs it calls right and wrong (ties in neither); for each
    strategy row (main score and variants) its evaluation on all pairs, then on each artefact's right
    and wrong pairs (None for an empty subset)."""
    manifest = ZooManifest.load(zoo)
    pairs = load_model_pairs(manifest.root / "model_pairs.json")
    folders = run_folders(runs, manifest.root, seed)
    if "artefacts" not in folders:
        raise SystemExit(f"{runs}: no finished artefacts run on {zoo} (run `poser-interp detect artefacts --zoo {zoo}`)")
    finals = {strategy: final_scores(folder, seed) for strategy, folder in folders.items()}

    def evaluate(strategy: str, variant: str | None, subset: list[ModelPair]):
        scores = finals[strategy] if variant is None else variant_scores(finals[strategy], variant)
        return evaluate_pairs(scores, subset, manifest.is_faker, seed=seed) if subset else None

    splits: dict[str, tuple[list[ModelPair], list[ModelPair]]] = {}
    for strategy, variant in ARTEFACT_ROWS:
        decisions = evaluate(strategy, variant, pairs).decisions
        splits[variant or "weight-distance"] = ([p for p, d in zip(pairs, decisions, strict=True) if d.correct > 0.5],
                                                [p for p, d in zip(pairs, decisions, strict=True) if d.correct < 0.5])
    rows: dict[str, list] = {}
    for strategy, folder in sorted(folders.items()):
        if strategy == "artefacts":
            continue
        if finals[strategy] is None:
            print(f"{strategy}: {folder} was run with a non-default config; left out")
            continue
        for variant in [None, *variants_of(folder)]:
            rows[strategy if variant is None else f"{strategy}: {variant}"] = \
                [evaluate(strategy, variant, pairs)] + [evaluate(strategy, variant, subset)
                                                        for right, wrong in splits.values() for subset in (right, wrong)]
    return splits, rows


def cell(evaluation) -> str:
    if evaluation is None:
        return "-"
    return f"{evaluation.accuracy:.1%} [{evaluation.ci_low:.0%}, {evaluation.ci_high:.0%}] ({len(evaluation.decisions)})"


def main(zoo: Path, runs: Path, seed: int, markdown: bool) -> None:
    splits, rows = split_rows(zoo, runs, seed)
    header = ["row", "all pairs"] + [f"{a} {side}" for a in splits for side in ("right", "wrong")]
    lines = [[name, *map(cell, evaluations)] for name, evaluations in rows.items()]
    if markdown:
        lines = [header, [":---"] + ["---:"] * (len(header) - 1), *lines]
    for line in lines:
        print(("| " + " | ".join(line) + " |") if markdown else " | ".join(line))
    print(f"\n{zoo}: pairs each artefact calls right / wrong: "
          + "; ".join(f"{a} {len(r)} / {len(w)}" for a, (r, w) in splits.items()))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("zoo", type=Path)
    parser.add_argument("--runs", type=Path, default=Path("runs"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    main(args.zoo, args.runs, args.seed, args.markdown)
