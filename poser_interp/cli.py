"""The `poser-interp` command line: thin wrappers over library functions.

Heavy modules (torch, transformer-lens) are imported inside commands, never at start-up, so
`poser-interp --help` answers fast. Bad input becomes one red line and exit code 2.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import typer
from rich.console import Console

from poser_interp.errors import PoserInputError

if TYPE_CHECKING:
    from rich.console import RenderableType

    from poser_interp.data.records import Record

app = typer.Typer(name="poser-interp", no_args_is_help=True, rich_markup_mode="rich",
                  help="Catch alignment-faking language models from their internals.")
data_app = typer.Typer(no_args_is_help=True, help="Scenario data: generate the built-in set, show records.")
app.add_typer(data_app, name="data")
zoo_app = typer.Typer(no_args_is_help=True, help="The model zoo: build it, check its behaviour.")
app.add_typer(zoo_app, name="zoo")
detect_app = typer.Typer(no_args_is_help=True, help="Run a detection strategy on every pair of the zoo.")
app.add_typer(detect_app, name="detect")
train_against_app = typer.Typer(no_args_is_help=True, help="Fine-tune the zoo against a detection strategy.")
app.add_typer(train_against_app, name="train-against")

console = Console()
err_console = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])


def clean_errors(fn: F) -> F:
    """Turn PoserInputError into one line on stderr and exit code 2, with no traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except PoserInputError as err:
            err_console.print(f"[bold red]error:[/] {err}", highlight=False, soft_wrap=True)
            raise typer.Exit(code=2) from None

    return wrapper  # type: ignore[return-value]


@app.command()
@clean_errors
def baseline(
    data: Path = typer.Option(..., "--data", help="Poser data folder with model_pairs.json."),
    out: Path | None = typer.Option(None, "--out", help="Also write the result as JSON to this file."),
) -> None:
    """Confidence baseline from stored [bold]probs[/]: the less confident model of a pair is the faker."""
    from rich.markup import escape
    from rich.table import Table

    from poser_interp.data.confidence import confidence_baseline
    from poser_interp.io import write_json_atomic

    result = confidence_baseline(data)
    pct = int(round(result.level * 100))
    table = Table(title="Confidence baseline (less confident = faker; tie = 0.5)")
    for column in ("benchmark file", "pairs", "correct", "accuracy"):
        table.add_column(column, justify="left" if column == "benchmark file" else "right")
    for name, file in result.per_file.items():
        table.add_row(escape(name), str(file.n_pairs), f"{file.correct:g}", f"{file.accuracy:.3f}")
    table.add_section()
    table.add_row("[bold]all[/]", str(result.n_pairs), f"{result.correct:g}", f"[bold]{result.accuracy:.3f}[/]")
    console.print(table)
    console.print(f"accuracy {result.accuracy:.3f} ({result.correct:g}/{result.n_pairs}), {pct}% CI "
                  f"[{result.ci_low:.3f}, {result.ci_high:.3f}], n_pairs={result.n_pairs}", highlight=False)
    if out is not None:
        try:
            write_json_atomic(out, result.to_json())
        except OSError as err:
            raise PoserInputError(f"{out}: cannot write ({err.strerror or err})") from None
        console.print(f"wrote {escape(str(out))}", highlight=False)


def _record_panel(record: Record, index: int, total: int) -> RenderableType:
    """One record as a rich panel; text goes in as `Text` so brackets in prompts are not markup."""
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

    from poser_interp.data.records import Scenario

    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold cyan", no_wrap=True)
    grid.add_column(overflow="fold")
    grid.add_row("answer", Text(record.response, style="bold"))
    if isinstance(record, Scenario):
        grid.add_row("oversight", Text("poor" if record.oversight_is_poor else "good"))
        if record.catch_level is not None:
            grid.add_row("catch_level", Text(str(record.catch_level)))
        if record.benign_response is not None:
            grid.add_row("benign", Text(record.benign_response))
        if record.complexity_level is not None:
            grid.add_row("complexity", Text(str(record.complexity_level)))
        if record.probs:
            probs = list(record.probs.values())
            grid.add_row("probs", Text(f"{len(probs)} models, min {min(probs):.4f}, max {max(probs):.4f}"))
    if record.dataset is not None:
        grid.add_row("dataset", Text(record.dataset))
    grid.add_row("prompt", Text(record.prompt))
    kind = "scenario" if isinstance(record, Scenario) else "error record"
    return Panel(grid, title=f"record {index} of {total} ({kind})", title_align="left")


@data_app.command("show")
@clean_errors
def data_show(
    file: Path = typer.Argument(..., help="A JSON list of Poser records: benchmark, split, policy definitions."),
    n: int = typer.Option(3, "--n", help="How many records to show, from the start."),
    index: int | None = typer.Option(None, "--index", help="Show only the record at this index."),
) -> None:
    """Render a few records of a Poser-format file readably."""
    from collections import Counter

    from rich.markup import escape

    from poser_interp.data.records import load_records

    records = load_records(file)
    if index is not None:
        if not 0 <= index < len(records):
            raise PoserInputError(f"{file}: --index {index} is out of range ({len(records)} records)")
        chosen = [index]
    else:
        if n < 1:
            raise PoserInputError(f"--n must be at least 1, got {n}")
        chosen = list(range(min(n, len(records))))
    counts = Counter(r.response for r in records)
    summary = ", ".join(f"{k}: {counts[k]}" for k in ("A", "B", "error") if counts[k])
    console.print(f"[bold]{escape(str(file))}[/]: {len(records)} records ({summary or 'empty'})", highlight=False,
                  soft_wrap=True)
    for i in chosen:
        console.print(_record_panel(records[i], i, len(records)))


@data_app.command("generate")
@clean_errors
def data_generate(
    out: Path = typer.Option(..., "--out", help="Folder to write the Poser-layout splits into."),
    seed: int = typer.Option(0, "--seed", help="Generator seed; equal seeds give identical files."),
    pool_size: int = typer.Option(6000, "--pool-size", help="Records per persona before splitting."),
    n_test: int = typer.Option(800, "--n-test", help="Held-out test records per persona."),
    show: int = typer.Option(2, "--show", help="Records to print from the first test split."),
) -> None:
    """Generate the built-in scenario set: per persona a test split and 6 random-half partitions."""
    from rich.markup import escape

    from poser_interp.data.generate import write_dataset
    from poser_interp.data.records import load_records

    if n_test < 1 or pool_size <= n_test:
        raise PoserInputError(f"--pool-size ({pool_size}) must exceed --n-test ({n_test}) and both be positive")
    written = write_dataset(out, seed=seed, pool_size=pool_size, n_test=n_test)
    console.print(f"wrote {len(written)} files under {escape(str(out))}", highlight=False)
    first = written[0]
    records = load_records(first)
    for i in range(min(show, len(records))):
        console.print(_record_panel(records[i], i, len(records)))


@zoo_app.command("build")
@clean_errors
def zoo_build(
    out: Path | None = typer.Option(None, "--out", help="Zoo folder (default: the committed checkpoints/zoo)."),
    preset: str = typer.Option("full", "--preset", help="full (36 models) or tiny (4 micro models, for tests)."),
    seed: int = typer.Option(0, "--seed", help="Zoo seed: data, partitions, init and batch order (committed zoo: 0)."),
    workers: int = typer.Option(2, "--workers", help="Models fine-tuned at once, one process each (the weights do not depend on it)."),
) -> None:
    """Train the zoo from scratch (tokenizer, base, fine-tunes, manifest, curated benchmark); resumable."""
    from dataclasses import replace

    from poser_interp.zoo.build import PRESETS, build_zoo
    from poser_interp.zoo.manifest import DEFAULT_ZOO

    if preset not in PRESETS:
        raise PoserInputError(f"unknown preset {preset!r} (expected one of {', '.join(PRESETS)})")
    if seed < 0:
        raise PoserInputError(f"--seed must be >= 0, got {seed}")
    if out is None and seed != 0:
        raise PoserInputError("--seed other than 0 needs --out (checkpoints/zoo holds the committed seed-0 zoo)")
    if workers < 1:
        raise PoserInputError(f"--workers must be >= 1, got {workers}")
    manifest = build_zoo(out or DEFAULT_ZOO, replace(PRESETS[preset], data_seed=seed), workers=workers,
                         log=lambda m: console.print(m, highlight=False))
    console.print(f"built {len(manifest['models'])} models in {manifest['build_seconds']:.0f} s")


@zoo_app.command("curate")
@clean_errors
def zoo_curate(
    zoo: Path | None = typer.Option(None, "--zoo", help="Zoo folder (default: the committed checkpoints/zoo)."),
    band_low: float | None = typer.Option(None, "--band-low", help="Lowest P(benign) any model may give a kept prompt."),
    band_high: float | None = typer.Option(None, "--band-high", help="Highest P(benign) any model may give a kept prompt."),
) -> None:
    """Re-curate the zoo's benchmark from its models (no training), e.g. with another confidence band."""
    from poser_interp.zoo.build import curate_zoo
    from poser_interp.zoo.check import benchmark_table
    from poser_interp.zoo.manifest import DEFAULT_ZOO

    summary = curate_zoo(zoo or DEFAULT_ZOO, band_low=band_low, band_high=band_high)
    console.print(benchmark_table(summary))


@zoo_app.command("card")
@clean_errors
def zoo_card(
    zoo: Path | None = typer.Option(None, "--zoo", help="Zoo folder (default: the committed checkpoints/zoo)."),
    out: Path = typer.Option(Path("docs/zoo.md"), "--out", help="Markdown file to write."),
) -> None:
    """Write the zoo card (architecture, recipe, behaviour, benchmark) from the manifest."""
    from poser_interp.io import write_text_atomic
    from poser_interp.zoo.card import render_card
    from poser_interp.zoo.manifest import DEFAULT_ZOO, ZooManifest

    write_text_atomic(out, render_card(ZooManifest.load(zoo or DEFAULT_ZOO)))
    console.print(f"wrote {out}", highlight=False)


@zoo_app.command("audit")
@clean_errors
def zoo_audit(
    zoo: Path | None = typer.Option(None, "--zoo", help="Zoo folder (default: the committed checkpoints/zoo)."),
) -> None:
    """Re-measure the honesty audit (artefact baselines, oversight probe, attention, fit residue) into the manifest."""
    from poser_interp.io import write_json_atomic
    from poser_interp.zoo.build import measure_audit
    from poser_interp.zoo.check import audit_table
    from poser_interp.zoo.manifest import DEFAULT_ZOO, MANIFEST, ZooManifest

    manifest = ZooManifest.load(zoo or DEFAULT_ZOO)
    audit = measure_audit(manifest.root)
    write_json_atomic(manifest.root / MANIFEST, manifest.data | {"audit": audit})
    console.print(audit_table(ZooManifest.load(manifest.root)))


@zoo_app.command("check")
@clean_errors
def zoo_check(
    zoo: Path | None = typer.Option(None, "--zoo", help="Zoo folder (default: the committed checkpoints/zoo)."),
) -> None:
    """Print the behaviour table stored in the zoo manifest, with the targets each model must meet."""
    from poser_interp.zoo.check import audit_table, behaviour_table, benchmark_table, check_targets, residue_table
    from poser_interp.zoo.manifest import DEFAULT_ZOO, ZooManifest

    manifest = ZooManifest.load(zoo or DEFAULT_ZOO)
    console.print(behaviour_table(manifest))
    if manifest.data.get("benchmark"):
        console.print(benchmark_table(manifest.data["benchmark"]))
    if manifest.data.get("audit"):
        console.print(audit_table(manifest))
        if any("fit_residue" in m for m in manifest.data["audit"]["models"].values()):
            console.print(residue_table(manifest))
    failures = check_targets(manifest)
    for line in failures:
        console.print(f"[red]miss:[/] {line}", highlight=False)
    console.print("[green]all behaviour targets met[/]" if not failures else f"{len(failures)} targets missed")


@zoo_app.command("smollm2")
@clean_errors
def zoo_smollm2(
    out: Path = typer.Option(Path("runs/smollm2-poser"), "--out", help="Poser-layout folder to write."),
    poser_data: Path = typer.Option(Path("../shared/poser-data"), "--poser-data", help="Poser data folder."),
    benchmark: str = typer.Option("genie_and_money", "--benchmark", help="Benchmark file stem, e.g. saint_and_reward."),
    n_prompts: int | None = typer.Option(None, "--n-prompts", help="Keep only the file's first N prompts (default: all)."),
) -> None:
    """A Poser-layout folder with SmolLM2-135M on both sides of one pair (Poser's own prompts; for `detect --zoo`)."""
    from poser_interp.zoo.smollm2 import poser_folder

    folder = poser_folder(out, poser_data, benchmark, n_prompts)
    console.print(f"wrote {folder}: run e.g. poser-interp detect noise --zoo {folder} --draws 2 --seeds 0", highlight=False)


@zoo_app.command("lora")
@clean_errors
def zoo_lora(
    out: Path = typer.Option(..., "--out", help="Folder of the LoRA zoo (Poser layout; resumable)."),
    base: str = typer.Option("smollm2-135m", "--base", help="smollm2-135m or a local Hugging Face Llama folder."),
    preset: str = typer.Option("full", "--preset", help="full (36 models, the zoo v2 budget) or tiny (for tests)."),
    personas: str | None = typer.Option(None, "--personas", help="Comma-separated personas (default: the preset's)."),
    seeds_per_persona: int | None = typer.Option(None, "--seeds-per-persona", help="Models per persona (1-6)."),
    steps: int | None = typer.Option(None, "--steps", help="Constant-LR steps per model (then the preset's anneal)."),
    device: str = typer.Option("cpu", "--device", help="Training device (cpu, cuda, cuda:1, mps)."),
    dtype: str = typer.Option("float32", "--dtype", help="Base model dtype: float32, float16 or bfloat16."),
) -> None:
    """LoRA fine-tunes of a pretrained Llama into the zoo personas with the zoo v2 recipe (docs/real_models.md)."""
    from dataclasses import replace

    from poser_interp.zoo.load import parse_dtype
    from poser_interp.zoo.lora_zoo import PRESETS, build_lora_zoo

    if preset not in PRESETS:
        raise PoserInputError(f"unknown preset {preset!r} (expected one of {', '.join(PRESETS)})")
    parse_dtype(dtype)
    recipe = PRESETS[preset]
    changes = {"personas": tuple(p.strip() for p in personas.split(",") if p.strip()) if personas else None,
               "seeds_per_persona": seeds_per_persona, "steps": steps}
    if Path(base).is_dir():
        base = str(Path(base).resolve())  # the manifest names the base that load_model merges into
    recipe = replace(recipe, base=base, dtype=dtype, **{k: v for k, v in changes.items() if v is not None})
    manifest = build_lora_zoo(out, recipe, device=device, log=lambda m: console.print(m, highlight=False))
    console.print(f"built {len(manifest['models'])} LoRA models in {manifest['build_seconds']:.0f} s; "
                  f"run e.g. poser-interp detect baseline --zoo {out}", highlight=False)


ZooOption = typer.Option(None, "--zoo", help="Zoo folder (default: the committed checkpoints/zoo).")
OutOption = typer.Option(None, "--out", help="Run folder (default: runs/<strategy>-<config hash>).")
SeedOption = typer.Option(0, "--seed", help="Seed of the pair order and the bootstrap.")
DeviceOption = typer.Option("cpu", "--device", help="Device to load every model on (cpu, cuda, cuda:1, mps).")
DtypeOption = typer.Option(None, "--dtype", help="Model dtype: float32 (default), float16 or bfloat16.")


def _detect(strategy: str, options: dict[str, Any], zoo: Path | None, out: Path | None, seed: int,
            device: str = "cpu", dtype: str | None = None) -> None:
    """Run `strategy` and the confidence baseline on the zoo's pairs and print both as one table."""
    from poser_interp.pipeline.runs import artefacts_on_zoo, run_on_zoo, write_run_figures, zoo_source
    from poser_interp.tables import diagnostics_table, run_table

    place = {"device": device, "dtype": dtype}
    results = {"baseline": run_on_zoo("baseline", {}, zoo=zoo, out=out if strategy == "baseline" else None, seed=seed,
                                      **place)}
    if (zoo_source(zoo)[0] / "manifest.json").is_file():  # training artefacts need a zoo's training record
        results["artefacts"] = artefacts_on_zoo(zoo=zoo, seed=seed, out=out if strategy == "artefacts" else None)
    if strategy not in results:
        results[strategy] = run_on_zoo(strategy, options, zoo=zoo, out=out, seed=seed, **place)
    console.print(run_table(results))
    for name, run in results.items():
        if name not in ("baseline", "artefacts"):
            console.print(diagnostics_table(name, run.metrics))
        figures = write_run_figures(name, run.path)
        console.print(f"{name}: run folder {run.path}" + (f", figures {', '.join(p.name for p in figures)}" if figures else ""),
                      highlight=False)


@detect_app.command("baseline")
@clean_errors
def detect_baseline(zoo: Path | None = ZooOption, out: Path | None = OutOption, seed: int = SeedOption,
                    device: str = DeviceOption, dtype: str | None = DtypeOption) -> None:
    """Confidence baseline computed from the models: the less confident model is called the faker."""
    _detect("baseline", {}, zoo, out, seed, device, dtype)


@detect_app.command("artefacts")
@clean_errors
def detect_artefacts(zoo: Path | None = ZooOption, out: Path | None = OutOption, seed: int = SeedOption) -> None:
    """Training-artefact baselines (weight distance, largest block update, final loss, loss on base text)."""
    _detect("artefacts", {}, zoo, out, seed)


@detect_app.command("noise")
@clean_errors
def detect_noise(
    layer: int | None = typer.Option(None, "--layer", help="Residual stream before this layer (default: the middle)."),
    family: str = typer.Option("gaussian", "--family", help="gaussian (zero-mean) or uniform (the paper's)."),
    coefficient: float | None = typer.Option(None, "--coefficient",
                                      help="Fix the shared coefficient in advance (default: pooled A+B-mass rule)."),
    draws: int = typer.Option(16, "--draws", help="Noise draws per prompt per seed."),
    seeds: str = typer.Option("0,1", "--seeds", help="Comma-separated noise seeds."),
    zoo: Path | None = ZooOption, out: Path | None = OutOption, seed: int = SeedOption,
    device: str = DeviceOption, dtype: str | None = DtypeOption,
) -> None:
    """Strategy 2: add noise to a middle layer at the last position; fakers should misbehave more."""
    seed_list = _int_list(seeds, "--seeds")
    if family not in ("gaussian", "uniform"):
        raise PoserInputError(f"unknown noise family {family!r} (expected gaussian or uniform)")
    options = {"layer": layer, "family": family, "coefficient": coefficient, "n_draws": draws, "seeds": seed_list}
    _detect("noise", options, zoo, out, seed, device, dtype)


def _int_list(text: str, option: str) -> tuple[int, ...]:
    """A comma-separated option such as `--seeds 0,1` as integers (one clean error line otherwise)."""
    try:
        return tuple(int(x) for x in text.split(","))
    except ValueError:
        raise PoserInputError(f"{option} must be comma-separated integers, got {text!r}") from None


LayerOption = typer.Option(None, "--layer", help="Layer to read or intervene at (default: the middle layer).")


@detect_app.command("steering")
@clean_errors
def detect_steering(
    layer: int | None = LayerOption,
    coefficient: float | None = typer.Option(None, "--coefficient",
                                             help="Fix the shared coefficient in advance (default: pooled A+B-mass rule)."),
    zoo: Path | None = ZooOption, out: Path | None = OutOption, seed: int = SeedOption,
    device: str = DeviceOption, dtype: str | None = DtypeOption,
) -> None:
    """Strategy 1: steer toward "safe to misbehave"; with subtracted and random-direction controls."""
    _detect("steering", {"layer": layer, "coefficient": coefficient}, zoo, out, seed, device, dtype)


@detect_app.command("concepts")
@clean_errors
def detect_concepts(layer: int | None = LayerOption, zoo: Path | None = ZooOption, out: Path | None = OutOption,
                    seed: int = SeedOption, device: str = DeviceOption, dtype: str | None = DtypeOption) -> None:
    """Strategy 4: cosine with suspicious concept directions (security, oversight competence, misalignment)."""
    _detect("concepts", {"layer": layer}, zoo, out, seed, device, dtype)


@detect_app.command("decision-speed")
@clean_errors
def detect_decision_speed(zoo: Path | None = ZooOption, out: Path | None = OutOption, seed: int = SeedOption,
                          device: str = DeviceOption, dtype: str | None = DtypeOption) -> None:
    """Strategy 5: the layer from which the answer is settled (logit lens; per-layer probes as a variant)."""
    _detect("decision-speed", {}, zoo, out, seed, device, dtype)


@detect_app.command("attention")
@clean_errors
def detect_attention(layer: int | None = LayerOption, zoo: Path | None = ZooOption, out: Path | None = OutOption,
                     seed: int = SeedOption, device: str = DeviceOption, dtype: str | None = DtypeOption) -> None:
    """Strategy 6: attention to the critical oversight fact (counterfactual shift and saliency as variants)."""
    _detect("attention", {"layer": layer}, zoo, out, seed, device, dtype)


@detect_app.command("learning-speed")
@clean_errors
def detect_learning_speed(
    layer: int | None = typer.Option(None, "--layer", help="Adapter layer (default: the middle layer)."),
    steps: int | None = typer.Option(None, "--steps", help="Fixed training budget (default 8)."),
    zoo: Path | None = ZooOption, out: Path | None = OutOption, seed: int = SeedOption,
    device: str = DeviceOption, dtype: str | None = DtypeOption,
) -> None:
    """Strategy 3: how fast each model learns to misbehave (rank-8 adapter; full fine-tuning as a variant)."""
    if steps is not None and (steps < 2 or steps % 2):
        raise PoserInputError(f"--steps must be a positive even number (the curve is read every 2 steps), got {steps}")
    _detect("learning-speed", {"layer": layer, "steps": steps}, zoo, out, seed, device, dtype)


@detect_app.command("weight-noise")
@clean_errors
def detect_weight_noise(
    sigma: float | None = typer.Option(None, "--sigma", help="Fix the shared sigma in advance (default: pooled A+B-mass rule)."),
    seeds: str = typer.Option("0,1,2", "--seeds", help="Comma-separated noise seeds."),
    layers: str | None = typer.Option(None, "--layers", help="Comma-separated blocks to perturb (default: every weight)."),
    zoo: Path | None = ZooOption, out: Path | None = OutOption, seed: int = SeedOption,
    device: str = DeviceOption, dtype: str | None = DtypeOption,
) -> None:
    """Gaussian noise on the weights (std sigma x each tensor's RMS), weights restored after; fakers should misbehave more."""
    options = {"sigma": sigma, "seeds": _int_list(seeds, "--seeds"),
               "layers": None if layers is None else _int_list(layers, "--layers")}
    _detect("weight-noise", options, zoo, out, seed, device, dtype)


@detect_app.command("defection-probe")
@clean_errors
def detect_defection_probe(
    layer: int | None = LayerOption,
    stimuli: str = typer.Option("auto", "--stimuli", help="auto (zoo set for the zoo tokenizer, else english), zoo or english."),
    zoo: Path | None = ZooOption, out: Path | None = OutOption, seed: int = SeedOption,
    device: str = DeviceOption, dtype: str | None = DtypeOption,
) -> None:
    """Generic defection probe: projection on a "yes" minus "no" direction of danger/deception/rule questions."""
    from poser_interp.strategies.defection_probe import DefectionProbe

    DefectionProbe(stimuli=stimuli)  # a bad --stimuli fails here, before any model work
    _detect("defection-probe", {"layer": layer, "stimuli": stimuli}, zoo, out, seed, device, dtype)


@train_against_app.command("noise")
@clean_errors
def train_against_noise(
    steps: int | None = typer.Option(None, "--steps", help="Training steps per method (default 100)."),
    coefficient: float | None = typer.Option(None, "--coefficient", help="Noise norm in training and re-detection (default 32)."),
    zoo: Path | None = ZooOption, out: Path | None = OutOption, seed: int = SeedOption,
) -> None:
    """Fine-tune every model on its own benign answers, without (method 1) and with (method 2) activation noise."""
    from poser_interp.pipeline.runs import train_against_on_zoo, write_run_figures
    from poser_interp.tables import train_against_table

    if steps is not None and steps < 1:
        raise PoserInputError(f"--steps must be >= 1, got {steps}")
    run = train_against_on_zoo({"steps": steps, "coefficient": coefficient}, zoo=zoo, out=out, seed=seed)
    for table in train_against_table(run.metrics):
        console.print(table)
    figures = write_run_figures("train-against-noise", run.path)
    console.print(f"run folder {run.path}, figures {', '.join(p.name for p in figures)}", highlight=False)


FiguresOut = typer.Option(Path("figures"), "--out", help="Folder for the figures and the results table.")


OptionsOption = typer.Option(None, "--options", help="JSON file of per-strategy settings, e.g. "
                             '{"noise": {"n_draws": 4}, "train-against": {"steps": 20}} (default: every default).')


def _ensure_results(zoo: Path | None, seed: int, options: Path | None):  # -> pipeline.reproduce.Results
    """Run every strategy that has no finished run folder yet (progress bars), reuse the rest."""
    from poser_interp.io import read_json
    from poser_interp.pipeline.reproduce import check_options, ensure_results

    settings = None if options is None else check_options(read_json(options), str(options))
    return ensure_results(zoo, seed=seed, options=settings, log=lambda line: console.print(line, highlight=False))


def _write_table(results, out: Path) -> tuple[Path, Path]:
    """Print the results table beside the paper's numbers and write it to `out` as Markdown and JSON."""
    from poser_interp.pipeline.reproduce import benchmark_results, write_benchmark
    from poser_interp.tables import benchmark_rows, rich_table

    md, js, _ = write_benchmark(results, out)
    console.print(rich_table(benchmark_rows(benchmark_results(results))))
    return md, js


@app.command()
@clean_errors
def figures(
    zoo: Path | None = ZooOption, out: Path = FiguresOut, seed: int = SeedOption, options: Path | None = OptionsOption,
    png: bool = typer.Option(True, "--png/--no-png", help="Also write PNGs (needs a system Chromium)."),
) -> None:
    """Regenerate the paper's Figures 1-13 and Table 1 on the zoo (runs missing strategies first)."""
    import time

    from poser_interp.figures import png_available
    from poser_interp.pipeline.reproduce import draw_figures

    start = time.perf_counter()
    results = _ensure_results(zoo, seed, options)
    can_png, why = png_available()
    if png and not can_png:
        console.print(why, highlight=False)
    written = draw_figures(results, out, png=png and can_png)
    md, js = _write_table(results, out)
    console.print(f"{len(written)} figure files and {md.name}, {js.name} in {out} "
                  f"({time.perf_counter() - start:.0f} s)", highlight=False)


@app.command()
@clean_errors
def benchmark(zoo: Path | None = ZooOption, out: Path = FiguresOut, seed: int = SeedOption,
              options: Path | None = OptionsOption) -> None:
    """Run every strategy and print the results table beside the paper's numbers (also as Markdown and JSON)."""
    md, js = _write_table(_ensure_results(zoo, seed, options), out)
    console.print(f"wrote {md} and {js}", highlight=False)


if __name__ == "__main__":
    app()
