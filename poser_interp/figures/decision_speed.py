"""Figure 8 of a decision-speed run: held-out probe accuracy per layer, one line per model."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np
import plotly.graph_objects as go

from poser_interp.figures.curves import add_group_curves
from poser_interp.pipeline.folder import RunFolder


def layer_curves(run_dir: str | Path, key: str = "probe_accuracy") -> tuple[list[int], dict[str, np.ndarray]]:
    """Per model: diagnostic `key` (one value per layer) averaged over its benchmark files."""
    per_model: dict[str, list[list[float]]] = defaultdict(list)
    for (model, _file), (_sha, score) in sorted(RunFolder(run_dir).read_scores().items()):
        per_model[model].append(score.diagnostics[key])
    curves = {m: np.mean(np.asarray(v, dtype=np.float64), axis=0) for m, v in per_model.items()}
    n_layers = len(next(iter(curves.values()))) if curves else 0
    return list(range(n_layers)), curves


def figure8(run_dir: str | Path, base_run_dir: str | Path | None = None) -> go.Figure:
    """Probe accuracy (predicting the model's own answer) per layer; the base model dashed if given."""
    layers, curves = layer_curves(run_dir)
    fig = go.Figure()
    add_group_curves(fig, [float(layer) for layer in layers], curves)
    if base_run_dir is not None:
        _, base = layer_curves(base_run_dir)
        for name, curve in base.items():
            fig.add_trace(go.Scatter(x=layers, y=curve, mode="lines", name=f"base ({name})",
                                     line={"color": "black", "dash": "dash"}))
    fig.update_layout(title="Figure 8: decision speed, held-out probe accuracy per layer",
                      xaxis_title="layer (residual stream after the block)",
                      yaxis_title="probe accuracy (model's own answer)", template="plotly_white")
    return fig
