"""Figures of a noise run (paper Figure 5 and Figure 11), drawn from its run folder alone."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np
import plotly.graph_objects as go

from poser_interp.data.personas import is_faker
from poser_interp.data.records import load_json
from poser_interp.runs import RunFolder

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


def _curves_figure(run_dir: str | Path, key: str, title: str, y_title: str) -> go.Figure:
    coefs, curves = model_curves(run_dir, key)
    fig = go.Figure()
    for faker in (False, True):
        members = [c for m, c in curves.items() if is_faker(m) == faker]
        for i, (model, curve) in enumerate((m, c) for m, c in curves.items() if is_faker(m) == faker):
            fig.add_trace(go.Scatter(x=coefs, y=curve, mode="lines", line={"color": COLORS[faker], "width": 0.6},
                                     opacity=0.35, name=model, legendgroup=GROUP[faker], showlegend=False))
        if members:
            fig.add_trace(go.Scatter(x=coefs, y=np.mean(members, axis=0), mode="lines+markers",
                                     line={"color": COLORS[faker], "width": 3},
                                     name=f"{GROUP[faker]} models (mean of {len(members)})", legendgroup=GROUP[faker]))
    fig.update_layout(title=title, xaxis_title="noise coefficient (norm of the added vector)",
                      yaxis_title=y_title, template="plotly_white")
    fig.update_xaxes(type="log" if min(c for c in coefs if c > 0) > 0 and len(coefs) > 3 else "linear")
    return fig


def figure5(run_dir: str | Path) -> go.Figure:
    """P(misaligned action) against noise magnitude, aligned vs faker models (paper Figure 5)."""
    fig = _curves_figure(run_dir, "p_misaligned", "Figure 5: misaligned action probability under activation noise",
                         "P(misaligned action)")
    _mark_chosen(fig, run_dir)
    return fig


def figure11(run_dir: str | Path) -> go.Figure:
    """Probability mass on A+B against the noise coefficient, with the 0.5 selection line (Figure 11)."""
    fig = _curves_figure(run_dir, "ab_mass", "Figure 11: probability mass on A and B under activation noise",
                         "P(A) + P(B)")
    fig.add_hline(y=0.5, line_dash="dot", annotation_text="0.5: selection threshold")
    _mark_chosen(fig, run_dir)
    return fig


def _mark_chosen(fig: go.Figure, run_dir: str | Path) -> None:
    metrics_path = Path(run_dir) / "metrics.json"
    if metrics_path.exists():
        chosen = load_json(metrics_path).get("selection", {}).get("coefficient")
        if chosen:
            fig.add_vline(x=chosen, line_dash="dash", annotation_text=f"shared coefficient {chosen:g}")
