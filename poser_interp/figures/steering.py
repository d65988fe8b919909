"""Figure 4 of a steering run: P(misaligned) against the coefficient, +direction and -direction, from its run folder."""

from __future__ import annotations

from pathlib import Path

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from poser_interp.figures.curves import add_group_curves, coefficient_axis, mark_chosen, model_curves

PANELS = (("p_misaligned", "+ direction (added)"), ("p_misaligned_subtracted", "- direction (subtracted)"))


def figure4(run_dir: str | Path) -> go.Figure:
    """Two panels: steering toward and away from "safe to misbehave", aligned vs faker models (paper Figure 4)."""
    fig = make_subplots(rows=1, cols=2, shared_yaxes=True, subplot_titles=[title for _, title in PANELS])
    for col, (key, _title) in enumerate(PANELS, start=1):
        coefs, curves = model_curves(run_dir, key)
        add_group_curves(fig, coefs, curves, row=1, col=col, showlegend=col == 1)
        fig.update_xaxes(title_text="steering coefficient (norm of the added vector)", type=coefficient_axis(coefs),
                         row=1, col=col)
    fig.update_yaxes(title_text="P(misaligned action)", row=1, col=1)
    fig.update_layout(title="Figure 4: misaligned action probability when steering toward \"safe to misbehave\"",
                      template="plotly_white", width=1000)
    mark_chosen(fig, run_dir, panels=True)
    return fig
