"""Sweep curves shared by the perturbation figures: per-model means from a run folder, drawn by group."""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

import numpy as np
import plotly.graph_objects as go

from poser_interp.data.personas import is_faker
from poser_interp.data.records import load_json
from poser_interp.pipeline.folder import RunFolder

COLORS = {True: "#d62728", False: "#1f77b4"}
GROUP = {True: "faker", False: "aligned"}


def model_curves(run_dir: str | Path, key: str) -> tuple[list[float], dict[str, np.ndarray]]:
    """Per model: the mean over its benchmark prompts of diagnostic `key` at each coefficient."""
    scores = RunFolder(run_dir).read_scores()
    per_model: dict[str, list[np.ndarray]] = defaultdict(list)
    coefs: list[float] = []
    for (model, _file), (_sha, score) in sorted(scores.items()):
        coefs = score.diagnostics["coefficients"]
        values = np.asarray(score.diagnostics[key], dtype=np.float64).reshape(-1, len(coefs))
        per_model[model].append(values)
    return coefs, {m: np.concatenate(v).mean(0) for m, v in per_model.items()}


def add_group_curves(fig: go.Figure, coefs: list[float], curves: dict[str, np.ndarray], *,
                     row: int | None = None, col: int | None = None, showlegend: bool = True) -> None:
    """One thin line per model and one thick mean line per group (aligned, faker)."""
    where = {} if row is None else {"row": row, "col": col}
    for faker in (False, True):
        members = {m: c for m, c in curves.items() if is_faker(m) == faker}
        for model, curve in members.items():
            fig.add_trace(go.Scatter(x=coefs, y=curve, mode="lines", line={"color": COLORS[faker], "width": 0.6},
                                     opacity=0.35, name=model, legendgroup=GROUP[faker], showlegend=False), **where)
        if members:
            fig.add_trace(go.Scatter(x=coefs, y=np.mean(list(members.values()), axis=0), mode="lines+markers",
                                     line={"color": COLORS[faker], "width": 3}, showlegend=showlegend,
                                     name=f"{GROUP[faker]} models (mean of {len(members)})", legendgroup=GROUP[faker]),
                          **where)


def coefficient_axis(coefs: list[float]) -> str:
    """Log scale for a long geometric sweep, else linear."""
    positive = [c for c in coefs if c > 0]
    return "log" if positive and len(coefs) > 3 else "linear"


def mark_chosen(fig: go.Figure, run_dir: str | Path, *, panels: bool = False) -> None:
    """A dashed vertical line at the run's shared coefficient (from `metrics.json`); in every panel if `panels`."""
    metrics_path = Path(run_dir) / "metrics.json"
    if metrics_path.exists():
        chosen = load_json(metrics_path).get("selection", {}).get("coefficient")
        if chosen:
            where = {"row": "all", "col": "all"} if panels else {}
            fig.add_vline(x=chosen, line_dash="dash", annotation_text=f"shared coefficient {chosen:g}", **where)
            if fig.layout.xaxis.type == "log":
                # plotly autoranges a log axis as if the line's x were in log10 units (32 -> 1e32): pin the data range.
                xs = [x for trace in fig.data for x in (trace.x or ()) if x and x > 0]
                fig.update_xaxes(range=[math.log10(min(xs)) - 0.1, math.log10(max(xs)) + 0.1])
