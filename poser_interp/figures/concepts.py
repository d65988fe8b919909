"""Figure 7 of a concepts run: pair accuracy per concept and combined, with 95% CIs, from its metrics.json."""

from __future__ import annotations

from pathlib import Path

import plotly.graph_objects as go

from poser_interp.data.records import load_json
from poser_interp.errors import PoserInputError

BARS = (("security", "security quality"), ("competence", "oversight competence"),
        ("misaligned", "misaligned behaviour"), (None, "combined"))


def concept_accuracies(run_dir: str | Path) -> list[tuple[str, float, float, float]]:
    """(label, accuracy, CI low, CI high) per bar: each concept's variant, then the main (combined) score."""
    path = Path(run_dir) / "metrics.json"
    metrics = load_json(path)
    out = []
    for variant, label in BARS:
        entry = metrics if variant is None else metrics.get("variants", {}).get(variant)
        if not isinstance(entry, dict) or "accuracy" not in entry or "ci95" not in entry:
            raise PoserInputError(f"{path}: no accuracy and ci95 for {label!r} (is this a concepts run?)")
        out.append((label, float(entry["accuracy"]), float(entry["ci95"][0]), float(entry["ci95"][1])))
    return out


def figure7(run_dir: str | Path) -> go.Figure:
    """Four bars (three concepts and their combination) with 95% CIs and the 50% chance line (paper Figure 7)."""
    bars = concept_accuracies(run_dir)
    labels, acc = [b[0] for b in bars], [b[1] for b in bars]
    fig = go.Figure(go.Bar(
        x=labels, y=acc, name="pair accuracy", text=[f"{a:.0%}" for a in acc], textposition="outside",
        marker_color=["#9ecae1"] * 3 + ["#3182bd"],
        error_y={"type": "data", "symmetric": False, "array": [hi - a for _, a, _, hi in bars],
                 "arrayminus": [a - lo for _, a, lo, _ in bars]},
    ))
    fig.add_hline(y=0.5, line_dash="dot", annotation_text="50%: chance")
    fig.update_layout(title="Figure 7: detecting alignment fakers by suspicious concepts in their activations",
                      xaxis_title="concept direction", yaxis_title="pair accuracy (95% CI)",
                      yaxis_range=[0, 1.05], template="plotly_white")
    return fig
