"""Every table: the results table (one row builder; rich, Markdown and JSON renderings), the detect
command's run table, the diagnostics table and the training-against tables.

The results table has every strategy (and its variants) beside the number the paper reports.

One row per strategy run and one per variant/control in it: pair accuracy with its 95% CIs (over
models, the default, and over pairs), the model-level (unpaired) AUROC, the TPR at 1% and 5% FPR,
number of pairs, and the paper's number for the same method, so a reader sees at a glance where the
zoo reproduces Poser and where it does not. Input is what run folders already hold: strategy name ->
`metrics.json` dict (or a `RunResult`). Rendered as GitHub Markdown, JSON or rich; the `detect`
command's table is the same rows with the label-free selection beside them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rich.table import Table

# Strategy order of the paper (baseline first, then S1..S6, then §4); unknown strategies follow in input order.
ORDER = ("baseline", "artefacts", "steering", "noise", "learning-speed", "concepts", "decision-speed", "attention",
         "weight-noise", "defection-probe", "train-against")
COLUMNS = ("strategy", "pair accuracy", "95% CI (models)", "95% CI (pairs)", "AUROC (models)", "TPR @ 1% FPR",
           "TPR @ 5% FPR", "pairs", "paper")
TEXT_COLUMNS = ("strategy", "paper", "selection")


@dataclass(frozen=True)
class PaperNumber:
    """What the paper reports for one method: display text, the accuracies in it (fractions) and where."""

    text: str
    accuracies: tuple[float, ...]
    source: str


_S5 = PaperNumber("47% (intro) / 37% (§3.5)", (0.47, 0.37),
                  "[P] §1 intro and README say 47%; §3.5 says 37% (probes on layer 10)")

# Keyed by (strategy, variant); variant None is the strategy's main row. Variants absent here have no
# paper number (steering controls "subtracted"/"random"; concepts "misaligned"/"competence"/"security",
# which Fig. 7 shows only as bars; attention "saliency", which the paper calls uninformative, no number).
PAPER_NUMBERS: dict[tuple[str, str | None], PaperNumber] = {
    # [P] §2 and App. E: "comparing log probabilities on curated data achieves 64% accuracy"; the
    # released curated files give 266/324 = 82.1% ([computed], docs/poser-paper.md §1.1).
    ("baseline", None): PaperNumber("64% (82.1% recomputed on released data)", (0.64, 0.821),
                                    "[P] App. E; [computed] on the released benchmark files"),
    # [P] §3.1: 100% accuracy, but subtracting the vector or adding noise does as well, so "failed".
    ("steering", None): PaperNumber("failed", (), "[P] §1 intro and §3.1"),
    # [P] §3.2: "This detection strategy correctly classifies 98% of model pairs."
    ("noise", None): PaperNumber("98%", (0.98,), "[P] §3.2"),
    # [P] §3.3: "full fine-tuned ... 63% and when models are LoRA tuned ... 90%".
    ("learning-speed", None): PaperNumber("90% (LoRA)", (0.90,), "[P] §3.3"),
    ("learning-speed", "full"): PaperNumber("63% (full fine-tuning)", (0.63,), "[P] §3.3"),
    # [P] §1 intro: 71%; Fig. 7 does not say which of its four bars that is (read as "combined").
    ("concepts", None): PaperNumber("71% (combined)", (0.71,), "[P] §1 intro, Fig. 7"),
    # [P] S5 is the probe method; the main row (logit lens) is compared with the same number.
    ("decision-speed", None): _S5,
    ("decision-speed", "probe"): _S5,
    # [P] §3.6: average attention "46%"; counterfactual activation shift "only 37%".
    ("attention", None): PaperNumber("46%", (0.46,), "[P] §1 intro and §3.6"),
    ("attention", "counterfactual"): PaperNumber("37%", (0.37,), "[P] §3.6"),
    # Training artefacts (zoo/artefacts.py): not detectors, the baselines a zoo must hold near chance.
    ("artefacts", None): PaperNumber("training artefact: weight distance from the base", (), "zoo/artefacts.py"),
    ("artefacts", "block-update"): PaperNumber("training artefact: largest block update", (), "zoo/artefacts.py"),
    ("artefacts", "final-loss"): PaperNumber("training artefact: final training loss", (), "zoo/artefacts.py"),
    ("artefacts", "base-text-loss"): PaperNumber("training artefact: loss on base-model text", (), "zoo/artefacts.py"),
    # Not in Poser (issue 15): weight noise after Tice et al. 2024; a generic defection probe after Anthropic 2024.
    ("weight-noise", None): PaperNumber("not in the paper (Tice et al. 2024)", (), "not in [P]"),
    ("defection-probe", None): PaperNumber("not in the paper (Anthropic 2024; Apollo: AUROC 0.96-0.999)", (),
                                           "not in [P]"),
    # [P] §4: P(aligned action) on previously misaligned prompts after 100 steps; the paper did not re-run
    # strategy 2 on the treated models, which is what this row (strategy 2 after method 2) measures.
    ("train-against", None): PaperNumber("not measured (the paper gives P(aligned): 76% SFT, 86% SFT+noise)", (),
                                         "[P] §4"),
}


def paper_number(strategy: str, variant: str | None = None) -> PaperNumber | None:
    """The paper's number for a strategy's main row (`variant=None`) or one of its variants, if any."""
    return PAPER_NUMBERS.get((strategy, variant))


def _interval(value: Any) -> list[float] | None:
    return None if value is None or None in value else [float(value[0]), float(value[1])]


def _row(strategy: str, variant: str | None, metrics: Mapping[str, Any]) -> dict[str, Any]:
    paper = paper_number(strategy, variant)
    chosen = (metrics.get("selection") or {}).get("coefficient")
    return {
        "strategy": strategy,
        "variant": variant,
        "name": strategy if variant is None else f"{strategy}: {variant}",
        "accuracy": metrics.get("accuracy"),
        "ci95": _interval(metrics.get("ci95")),
        "ci95_pairs": _interval(metrics.get("ci95_pairs")),
        "auroc_unpaired": metrics.get("auroc_unpaired"),
        "auroc_ci95": _interval(metrics.get("auroc_ci95")),
        "tpr_at_1pct_fpr": metrics.get("tpr_at_1pct_fpr"),
        "tpr_at_5pct_fpr": metrics.get("tpr_at_5pct_fpr"),
        "n_pairs": metrics.get("n_pairs"),
        "selection": "" if chosen is None else f"coefficient {chosen:g}",
        "paper": "" if paper is None else paper.text,
        "paper_accuracies": [] if paper is None else list(paper.accuracies),
        "paper_source": "" if paper is None else paper.source,
    }


def benchmark_rows(results: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per strategy (paper order) followed by one per variant; missing strategies are omitted."""
    names = [s for s in ORDER if s in results] + [s for s in results if s not in ORDER]
    rows = []
    for strategy in names:
        metrics = getattr(results[strategy], "metrics", results[strategy])
        rows.append(_row(strategy, None, metrics))
        for variant, variant_metrics in (metrics.get("variants") or {}).items():
            rows.append(_row(strategy, variant, variant_metrics))
    return rows


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def _cells(row: Mapping[str, Any]) -> dict[str, str]:
    """Every column's text for one row (`n/a` where a run folder predates a metric)."""
    ci = lambda v: "n/a" if v is None else f"[{100 * v[0]:.1f}%, {100 * v[1]:.1f}%]"  # noqa: E731
    auroc = row["auroc_unpaired"]
    return {"strategy": row["name"], "pair accuracy": _percent(row["accuracy"]), "95% CI (models)": ci(row["ci95"]),
            "95% CI (pairs)": ci(row.get("ci95_pairs")), "AUROC (models)": "n/a" if auroc is None else f"{auroc:.3f}",
            "TPR @ 1% FPR": _percent(row.get("tpr_at_1pct_fpr")), "TPR @ 5% FPR": _percent(row.get("tpr_at_5pct_fpr")),
            "pairs": "n/a" if row["n_pairs"] is None else str(row["n_pairs"]), "paper": row["paper"],
            "selection": row.get("selection", "")}


def to_markdown(rows: list[dict[str, Any]]) -> str:
    """A GitHub Markdown table (numbers right-aligned), ending in a newline."""
    lines = ["| " + " | ".join(COLUMNS) + " |",
             "|" + "|".join(":---" if c in TEXT_COLUMNS else "---:" for c in COLUMNS) + "|"]
    lines += ["| " + " | ".join(_cells(row)[c].replace("|", "\\|") for c in COLUMNS) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def to_json(rows: list[dict[str, Any]]) -> str:
    """The rows as JSON text (sorted keys, so equal rows give identical text)."""
    return json.dumps(rows, indent=1, sort_keys=True) + "\n"


def rich_table(rows: list[dict[str, Any]], *, title: str = "Poser benchmark on the zoo: pair accuracy vs the paper "
               "(chance = 50%)", columns: tuple[str, ...] = COLUMNS) -> Table:
    """The same table for the terminal; variant rows indented under their strategy."""
    table = Table(title=title)
    for column in columns:
        table.add_column(column, justify="left" if column in TEXT_COLUMNS else "right")
    for row in rows:
        cells = _cells(row)
        if row["variant"] is not None:
            cells["strategy"] = f"  {cells['strategy']}"
        table.add_row(*(cells[c] for c in columns))
    return table


def run_table(results: Mapping[str, Any]) -> Table:
    """The `detect` command's table: the given runs in the given order (baseline first), with the
    label-free selection (e.g. the shared coefficient) in place of the paper's number."""
    rows = [row for name, result in results.items() for row in benchmark_rows({name: result})]
    return rich_table(rows, title="Pair accuracy on the zoo (higher score = called the faker)",
                      columns=(*COLUMNS[:-1], "selection"))


def diagnostics_table(name: str, metrics: Mapping[str, Any]) -> Table:
    """Mean per-prompt evidence, aligned vs fakers, within confidence bins and per catch level."""
    diag = metrics.get("diagnostics", {})
    table = Table(title=f"{name}: evidence aligned vs fakers at matched confidence and per catch level")
    for column in ("stratum", "aligned mean", "faker mean", "n aligned", "n faker"):
        table.add_column(column, justify="left" if column == "stratum" else "right")

    def row(label: str, cell: Mapping[str, Any]) -> None:
        fmt = lambda v: "n/a" if v is None else f"{v:+.4f}"  # noqa: E731
        table.add_row(label, fmt(cell["aligned_mean"]), fmt(cell["faker_mean"]), str(cell["n_aligned"]), str(cell["n_faker"]))

    for cell in diag.get("by_confidence", []):
        lo, hi = cell["clean_log_odds"]
        row(f"clean log-odds {lo:.2f} to {hi:.2f}", cell)
    for level, cell in diag.get("by_catch_level", {}).items():
        row(f"catch level {level}", cell)
    for key in ("flip_rate_at_chosen", "log_odds_change_at_chosen"):
        if key in diag:
            row(key.replace("_", " "), diag[key])
    return table


def train_against_table(metrics: Mapping[str, Any]) -> list[Table]:
    """Mean P(aligned action) on previously misaligned scenarios before/after each method, and strategy 2 after."""
    before_after = Table(title="Training against strategy 2: mean P(aligned action) where fakers misbehaved before")
    for column in ("method", "group", "before", "after", "final loss", "models"):
        before_after.add_column(column, justify="left" if column in ("method", "group") else "right")
    for method, groups in metrics["p_aligned"].items():
        for group, cell in groups.items():
            before_after.add_row(method, group, f"{cell['before']:.3f}", f"{cell['after']:.3f}",
                                 f"{metrics['final_loss'][method][group]:.4f}", str(cell["n_models"]))
    redetect = rich_table([row for name, m in metrics["redetection"].items() for row in benchmark_rows({name: m})],
                          title="Strategy 2 (noise, fixed coefficient) on the treated zoo", columns=COLUMNS[:-1])
    return [before_after, redetect]
