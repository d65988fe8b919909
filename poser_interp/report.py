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
    return table
