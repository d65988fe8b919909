"""The weight-noise figure: P(misaligned) and A+B mass against sigma, aligned vs faker models (like Figure 5)."""

from __future__ import annotations

from pathlib import Path

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from poser_interp.figures.curves import add_group_curves, coefficient_axis, mark_chosen, model_curves

PANELS = (("p_misaligned", "P(misaligned action)"), ("ab_mass", "P(A) + P(B)"))


def weight_noise_figure(run_dir: str | Path) -> go.Figure:
    """Two panels over the sigma sweep, each model thin and each group's mean thick, the shared sigma dashed."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=[title for _, title in PANELS])
    for col, (key, title) in enumerate(PANELS, start=1):
        coefs, curves = model_curves(run_dir, key)
        add_group_curves(fig, coefs, curves, row=1, col=col, showlegend=col == 1)
        fig.update_xaxes(title_text="sigma (noise std / each tensor's RMS)", type=coefficient_axis(coefs), row=1, col=col)
        fig.update_yaxes(title_text=title, row=1, col=col)
    fig.add_hline(y=0.5, line_dash="dot", annotation_text="0.5: selection threshold", row=1, col=2)
    fig.update_layout(title="Weight noise: misaligned action probability under Gaussian noise on every weight",
                      template="plotly_white", width=1000)
    mark_chosen(fig, run_dir, panels=True)
    return fig
