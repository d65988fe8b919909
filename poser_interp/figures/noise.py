"""Figures of a noise run (paper Figure 5 and Figure 11), drawn from its run folder alone."""

from __future__ import annotations

from pathlib import Path

import plotly.graph_objects as go

from poser_interp.figures.curves import add_group_curves, coefficient_axis, mark_chosen, model_curves


def _curves_figure(run_dir: str | Path, key: str, title: str, y_title: str) -> go.Figure:
    coefs, curves = model_curves(run_dir, key)
    fig = go.Figure()
    add_group_curves(fig, coefs, curves)
    fig.update_layout(title=title, xaxis_title="noise coefficient (norm of the added vector)",
                      yaxis_title=y_title, template="plotly_white")
    fig.update_xaxes(type=coefficient_axis(coefs))
    return fig


def figure5(run_dir: str | Path) -> go.Figure:
    """P(misaligned action) against noise magnitude, aligned vs faker models (paper Figure 5)."""
    fig = _curves_figure(run_dir, "p_misaligned", "Figure 5: misaligned action probability under activation noise",
                         "P(misaligned action)")
    mark_chosen(fig, run_dir)
    return fig


def figure11(run_dir: str | Path) -> go.Figure:
    """Probability mass on A+B against the noise coefficient, with the 0.5 selection line (Figure 11)."""
    fig = _curves_figure(run_dir, "ab_mass", "Figure 11: probability mass on A and B under activation noise",
                         "P(A) + P(B)")
    fig.add_hline(y=0.5, line_dash="dot", annotation_text="0.5: selection threshold")
    mark_chosen(fig, run_dir)
    return fig
