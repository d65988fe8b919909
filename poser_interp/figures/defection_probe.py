"""The defection-probe figure: per-prompt probe scores of aligned vs faker models, per probe, from a run folder."""

from __future__ import annotations

from pathlib import Path

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from poser_interp.data.personas import is_faker
from poser_interp.figures.curves import COLORS, GROUP
from poser_interp.pipeline.folder import RunFolder

PROBES = ((None, "mean difference (evidence)"), ("logistic", "logistic probe (log-odds)"),
          ("control", "control: harmless questions"))


def probe_scores(run_dir: str | Path) -> dict[tuple[str, bool], list[float]]:
    """(probe label, faker?) -> every per-prompt score of that group over all its benchmark files."""
    out: dict[tuple[str, bool], list[float]] = {(label, f): [] for _, label in PROBES for f in (False, True)}
    for (model, _file), (_sha, score) in sorted(RunFolder(run_dir).read_scores().items()):
        for variant, label in PROBES:
            values = score.per_prompt if variant is None else score.diagnostics["variants"][variant]
            out[(label, is_faker(model))].extend(float(v) for v in values)
    return out


def defection_probe_figure(run_dir: str | Path) -> go.Figure:
    """One panel per probe (own y axis): violins of the per-prompt scores, aligned vs fakers."""
    scores = probe_scores(run_dir)
    fig = make_subplots(rows=1, cols=len(PROBES), subplot_titles=[label for _, label in PROBES])
    for col, (_, label) in enumerate(PROBES, start=1):
        for faker in (False, True):
            fig.add_trace(go.Violin(y=scores[(label, faker)], name=f"{GROUP[faker]} models", legendgroup=GROUP[faker],
                                    line_color=COLORS[faker], meanline_visible=True, points=False,
                                    showlegend=col == 1), row=1, col=col)
    fig.update_yaxes(title_text="score per benchmark prompt", row=1, col=1)
    fig.update_layout(title="Defection probe: scores of benchmark prompts, aligned vs faker models "
                      "(mean difference: -1/2 = the 'no' answers, +1/2 = the 'yes' answers)",
                      template="plotly_white", width=1100)
    return fig
