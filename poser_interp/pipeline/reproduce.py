"""Regenerate the paper's figures and results table on a zoo: run what is missing, then draw.

`ensure_results` runs every strategy with its default (label-free) settings into `runs/`, reusing
finished run folders, plus the few model-derived inputs the figures need (the base model's decision
speed, one faker's saliency and attention, the base model's noisy continuations). `draw_figures`
then writes Figures 1-13 and Table 1 as pure functions of those folders and the zoo.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from poser_interp.io import read_json, write_json_atomic, write_text_atomic
from poser_interp.pipeline.runs import RUNS_DIR, RunResult, artefacts_on_zoo, default_run_dir, run_on_zoo, train_against_on_zoo
from poser_interp.pipeline.plan import FIGURE_INPUTS_SECONDS, describe, plan
from poser_interp.progress import overall
from poser_interp.zoo.manifest import DEFAULT_ZOO, ZooManifest

# Detection strategies in the paper's order; each runs with its CLI defaults.
STRATEGIES = ("baseline", "steering", "noise", "learning-speed", "concepts", "decision-speed", "attention",
              "weight-noise", "defection-probe")  # the last two are not in the paper (issue 15)
TABLE1_MAGNITUDES = (0.0, 0.5, 1.0, 2.0, 5.0)  # the tiny base breaks far sooner than LLaMA-13B (paper: 0-15)
EXAMPLE_MODEL = "money_maximizer-0"  # the model of the paper's Figure 9


@dataclass
class Results:
    """Where every input of the figures lives."""

    zoo: Path
    runs: dict[str, RunResult] = field(default_factory=dict)
    train_against: RunResult | None = None
    base_decision_speed: Path | None = None
    example: Path | None = None
    table1: Path | None = None


def ensure_results(zoo: str | Path | None = None, *, seed: int = 0, progress: bool = True,
                   options: dict[str, dict[str, Any]] | None = None, log: Callable[[str], None] = print) -> Results:
    """Run (or reuse) every strategy and training-against run on the zoo, and the figure inputs.

    `options`: per strategy (or `train-against`), settings other than the defaults, e.g.
    `{"noise": {"n_draws": 4}}`; each run folder's name hashes its settings, so runs never mix.
    """
    options = check_options(options or {})
    manifest = ZooManifest.load(zoo or DEFAULT_ZOO)
    results = Results(manifest.root)
    steps = plan(manifest.root, options, seed=seed, strategies=STRATEGIES)
    log(describe(steps))  # up front: what will run and about how long
    cost = {step.name: step.seconds for step in steps}
    with overall("poser-interp figures", sum(cost.values()) + FIGURE_INPUTS_SECONDS,
                 enabled=progress and bool(steps)) as bar:
        say = log if bar is None else (lambda line: bar.console.print(line, highlight=False))
        for strategy in STRATEGIES:
            results.runs[strategy] = run_on_zoo(strategy, options.get(strategy, {}), zoo=manifest.root, seed=seed,
                                                progress=progress)
            say(f"{strategy}: {results.runs[strategy].path}")
            if strategy == "baseline":
                results.runs["artefacts"] = artefacts_on_zoo(zoo=manifest.root, seed=seed, progress=progress)
            if bar is not None:
                bar.update(bar.overall_task, advance=cost.get(strategy, 0.0))
        results.train_against = train_against_on_zoo(options.get("train-against", {}), zoo=manifest.root, seed=seed,
                                                      progress=progress)
        say(f"train-against noise: {results.train_against.path}")
    results.base_decision_speed = base_scores("decision-speed", manifest)
    results.example = attention_example(manifest)
    from poser_interp.noisy_text import write_table1

    layer = manifest.data["architecture"]["n_layers"] // 4  # early, as the paper's layer 5 of 40
    results.table1 = write_table1(RUNS_DIR / f"table1-layer{layer}", manifest.root, magnitudes=TABLE1_MAGNITUDES,
                                  layer=layer).parent
    return results


def check_options(options: Any, where: str = "options") -> dict[str, dict[str, Any]]:
    """Per-strategy settings as `{name: {option: value}}`, names from STRATEGIES or `train-against`."""
    from poser_interp.errors import PoserInputError

    known = (*STRATEGIES, "train-against")
    if not isinstance(options, dict) or not all(isinstance(v, dict) for v in options.values()):
        raise PoserInputError(f"{where}: expected an object of objects, e.g. {{\"noise\": {{\"n_draws\": 4}}}}")
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise PoserInputError(f"{where}: unknown strategy {unknown[0]!r} (expected one of {', '.join(known)})")
    as_tuple = lambda v: tuple(as_tuple(x) for x in v) if isinstance(v, list) else v  # noqa: E731  (JSON has no tuples)
    options = {name: {key: as_tuple(value) for key, value in settings.items()} for name, settings in options.items()}
    from poser_interp.strategies.base import get_detector
    from poser_interp.train_against import TrainAgainstConfig

    for name, settings in options.items():  # build each one now, so a bad setting fails before any work
        if name == "train-against":
            try:
                TrainAgainstConfig(**settings)
            except TypeError as err:
                raise PoserInputError(f"{where}: train-against: bad options {sorted(settings)} ({err})") from None
        else:
            get_detector(name, **settings)
    return options


def base_scores(strategy: str, manifest: ZooManifest) -> Path:
    """The zoo's base model scored by `strategy` on every benchmark file (a run folder without pairs).

    The folder is keyed by the zoo's manifest, not the base alone: zoos built on one base (two recipes
    of one seed) have different benchmarks; a score is redone when its file's sha256 changes."""
    from poser_interp.data.poser import load_benchmark
    from poser_interp.pipeline.folder import RunFolder
    from poser_interp.strategies.base import get_detector
    from poser_interp.zoo.load import load_base
    from poser_interp.zoo.manifest import sha256_file

    detector = get_detector(strategy)
    folder = RunFolder(default_run_dir(f"{strategy}-base", detector.config(), manifest.root, seed=0))
    folder.claim({"strategy": strategy, "config": detector.config(), "model": "base",
                  "benchmark_dir": str(manifest.root.resolve())})
    files = {str(p.relative_to(manifest.root)): sha256_file(p) for p in sorted((manifest.root / "data" / "benchmark").glob("*.json"))}
    stored = folder.read_scores()
    missing = [f for f, sha in files.items() if stored.get(("base", f), ("",))[0] != sha]
    if missing:
        model = load_base(manifest.root)
        for file in missing:
            stored[("base", file)] = (files[file], detector.score(model, load_benchmark(manifest.root / file)))
        folder.write_scores(stored)
    return folder.path


def attention_example(manifest: ZooManifest, model_name: str = EXAMPLE_MODEL) -> Path:
    """Saliency per token (for Figure 9) and a circuitsvis attention view, for one faker on one benchmark
    prompt that holds a critical fact: `runs/example-<model>/`."""
    from poser_interp.data.poser import load_benchmark, load_model_pairs

    out = RUNS_DIR / f"example-{model_name}"
    saliency_path, view_path = out / "saliency.json", out / "attention_view.html"
    if saliency_path.exists() and view_path.exists():
        return out
    from poser_interp.figures.attention import token_saliency, write_attention_view
    from poser_interp.zoo.load import load_model

    pairs = load_model_pairs(manifest.root / "model_pairs.json")
    file = next(p.valid_data for p in pairs if model_name in p.models)
    prompt = next(p for p in load_benchmark(manifest.root / file) if p.critical_facts)
    model = load_model(model_name, manifest.root)
    tokens, saliency, critical = token_saliency(model, prompt)
    write_attention_view(model, prompt.prompt, view_path)
    write_json_atomic(saliency_path, {"model": model_name, "file": file, "prompt": prompt.prompt, "tokens": tokens,
                                      "saliency": [float(x) for x in saliency], "critical": [bool(x) for x in critical]})
    return out


def figure_functions(results: Results) -> dict[str, Callable[[], Any]]:
    """Every figure as a thunk over saved results (name -> draws a plotly figure)."""
    from poser_interp.figures import (
        attention, concepts, decision_speed, defection_probe, noise, steering, training, weight_noise, zoo,
    )

    runs, zoo_dir = results.runs, results.zoo
    out: dict[str, Callable[[], Any]] = {
        "figure02_pairs": lambda: zoo.figure2(zoo_dir),
        "figure03_threshold": lambda: zoo.figure3(zoo_dir),
        "figure13_confidence": lambda: zoo.figure13(zoo_dir),
    }
    if results.train_against is not None:
        out["figure01_train_against"] = lambda: training.figure1(results.train_against.path)
        out["figure10_train_against_methods"] = lambda: training.figure10(results.train_against.path)
    if "steering" in runs:
        out["figure04_steering"] = lambda: steering.figure4(runs["steering"].path)
    if "noise" in runs:
        out["figure05_noise"] = lambda: noise.figure5(runs["noise"].path)
        out["figure11_ab_mass"] = lambda: noise.figure11(runs["noise"].path)
    if "learning-speed" in runs:
        out["figure06_learning_speed"] = lambda: training.figure6(runs["learning-speed"].path)
        out["figure12_learning_speed_per_step"] = lambda: training.figure12(runs["learning-speed"].path)
    if "concepts" in runs:
        out["figure07_concepts"] = lambda: concepts.figure7(runs["concepts"].path)
    if "decision-speed" in runs:
        out["figure08_decision_speed"] = lambda: decision_speed.figure8(runs["decision-speed"].path,
                                                                        results.base_decision_speed)
    if results.example is not None:
        example = read_json(results.example / "saliency.json")
        out["figure09_saliency"] = lambda: attention.figure9(
            example["tokens"], example["saliency"], example["critical"],
            title=f"Figure 9: gradient saliency per token, {example['model']}")
    if "weight-noise" in runs:  # figures 14 and 15 are beyond the paper (issue 15)
        out["figure14_weight_noise"] = lambda: weight_noise.weight_noise_figure(runs["weight-noise"].path)
    if "defection-probe" in runs:
        out["figure15_defection_probe"] = lambda: defection_probe.defection_probe_figure(runs["defection-probe"].path)
    if results.table1 is not None:
        out["table1_noisy_base"] = lambda: zoo.table1(results.table1)
    return dict(sorted(out.items()))


def draw_figures(results: Results, out_dir: str | Path, *, png: bool = True) -> list[Path]:
    """Write every figure into `out_dir` (HTML, and PNG when a browser exists) and the attention view."""
    from poser_interp.figures import save_figure

    out_dir = Path(out_dir)
    written = [p for name, draw in figure_functions(results).items() for p in save_figure(draw(), out_dir / name, png=png)]
    if results.example is not None:
        view = out_dir / "figure09_attention_view.html"
        write_text_atomic(view, (results.example / "attention_view.html").read_text(encoding="utf-8"))
        written.append(view)
    return written


def benchmark_results(results: Results) -> dict[str, Any]:
    """Strategy name -> metrics for the benchmark table; training against noise as strategy 2 re-run after it."""
    table: dict[str, Any] = {name: run.metrics for name, run in results.runs.items()}
    if results.train_against is not None:
        redetect = results.train_against.metrics["redetection"]
        table["train-against"] = redetect["sft+noise"] | {
            "variants": {name: m for name, m in redetect.items() if name != "sft+noise"}}
    return table


def write_benchmark(results: Results, out_dir: str | Path) -> tuple[Path, Path, str]:
    """`results.md` and `results.json` in `out_dir`; returns both paths and the Markdown."""
    from poser_interp.tables import benchmark_rows, to_json, to_markdown

    rows = benchmark_rows(benchmark_results(results))
    markdown = to_markdown(rows)
    out_dir = Path(out_dir)
    md = write_text_atomic(out_dir / "results.md", markdown)
    js = write_text_atomic(out_dir / "results.json", to_json(rows))
    return md, js, markdown
