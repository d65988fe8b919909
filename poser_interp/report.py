"""Results tables from run metrics: strategy, pair accuracy with CI, unpaired AUROC, and the baseline."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.table import Table


def results_row(name: str, metrics: Mapping[str, Any]) -> list[str]:
    lo, hi = metrics["ci95"]
    auroc = metrics.get("auroc_unpaired")
    chosen = metrics.get("selection", {}).get("coefficient")
    return [name, f"{metrics['accuracy']:.3f}", f"[{lo:.3f}, {hi:.3f}]",
            "n/a" if auroc is None else f"{auroc:.3f}", str(metrics["n_pairs"]),
            "" if chosen is None else f"coefficient {chosen:g}"]


def results_table(results: Mapping[str, Any]) -> Table:
    """One row per strategy run (`RunResult`s or metrics dicts); the baseline row comes first."""
    table = Table(title="Pair accuracy on the zoo (higher score = called the faker)")
    for column in ("strategy", "pair accuracy", "95% CI", "AUROC (unpaired)", "pairs", "selection"):
        table.add_column(column, justify="left" if column in ("strategy", "selection") else "right")
    for name, result in results.items():
        metrics = getattr(result, "metrics", result)
        table.add_row(*results_row(name, metrics))
        for variant, variant_metrics in metrics.get("variants", {}).items():
            table.add_row(*results_row(f"  {name}: {variant}", variant_metrics))
    return table


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
    redetect = results_table({name: m for name, m in metrics["redetection"].items()})
    redetect.title = "Strategy 2 (noise, fixed coefficient) on the treated zoo"
    return [before_after, redetect]
