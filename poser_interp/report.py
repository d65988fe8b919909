"""Run tables beside the results table: diagnostics per stratum, and training against detection."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.table import Table

from poser_interp.benchmark import COLUMNS, benchmark_rows, rich_table


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
