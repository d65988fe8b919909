"""Figures of the training runs: strategy 3's learning curves (Figures 6 and 12) and training against
strategy 2 (Figures 1 and 10), each drawn from its run folder alone."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from poser_interp.data.personas import is_faker
from poser_interp.data.poser import load_model_pairs
from poser_interp.data.records import load_json
from poser_interp.evaluation.pairs import evaluate_pairs
from poser_interp.figures.curves import COLORS, add_group_curves
from poser_interp.pipeline.folder import RunFolder
from poser_interp.strategies.base import ModelScore
from poser_interp.strategies.learning_speed import VARIANTS
from poser_interp.train_against import METHODS, read_models

VARIANT_TITLES = {"adapter": "rank-8 adapter on the middle MLP", "full": "full fine-tuning"}
METHOD_TITLES = {"sft": "method 1: own benign answers", "sft+noise": "method 2: the same, noise in training"}


def _curves_by_model(run_dir: str | Path, variant: str) -> tuple[list[float], dict[str, np.ndarray]]:
    """The evaluated steps, and per model the held-out P(misaligned) at each, averaged over its prompts."""
    rows: dict[str, list[np.ndarray]] = defaultdict(list)
    steps: list[float] = []
    for (model, _file), (_sha, score) in sorted(RunFolder(run_dir).read_scores().items()):
        rows[model].append(np.asarray(score.diagnostics[f"p_misaligned_{variant}"], dtype=np.float64))
        steps = [float(s) for s in score.diagnostics["steps"]]
    return steps, {m: np.concatenate(v).mean(0) for m, v in rows.items()}


def figure6(run_dir: str | Path) -> go.Figure:
    """Two panels (adapter, full fine-tuning): held-out P(misaligned) per step, aligned vs faker (Figure 6)."""
    fig = make_subplots(rows=1, cols=2, shared_yaxes=True, subplot_titles=[VARIANT_TITLES[v] for v in VARIANTS])
    for col, variant in enumerate(VARIANTS, start=1):
        steps, curves = _curves_by_model(run_dir, variant)
        add_group_curves(fig, steps, curves, row=1, col=col, showlegend=col == 1)
        fig.update_xaxes(title_text="training step", row=1, col=col)
    fig.update_yaxes(title_text="held-out P(misaligned action)", row=1, col=1)
    fig.update_layout(title="Figure 6: learning to misbehave (trained toward the misaligned action), held-out prompts",
                      template="plotly_white", width=1000)
    return fig


def accuracy_per_step(run_dir: str | Path, variant: str) -> tuple[list[int], list[float]]:
    """POST HOC (uses labels): the pair accuracy if the decision were made at each single step."""
    folder = RunFolder(run_dir)
    config = load_json(folder.config_path)
    pairs = load_model_pairs(Path(config["benchmark_dir"]) / "model_pairs.json")
    scores = {k: s for k, (_sha, s) in folder.read_scores().items()}
    steps = next(iter(scores.values())).diagnostics["steps"]
    accuracy = []
    for j in range(1, len(steps)):
        at_step = {k: ModelScore(np.asarray(s.diagnostics[f"p_misaligned_{variant}"])[:, j]
                                 - np.asarray(s.diagnostics[f"p_misaligned_{variant}"])[:, 0], s.greedy)
                   for k, s in scores.items()}
        accuracy.append(evaluate_pairs(at_step, pairs, is_faker, n_resamples=1).accuracy)
    return [int(s) for s in steps[1:]], accuracy


def figure12(run_dir: str | Path) -> go.Figure:
    """Pair accuracy per training step, both variants: a post-hoc analysis, not a decision rule (Figure 12)."""
    fig = go.Figure()
    for variant in VARIANTS:
        steps, accuracy = accuracy_per_step(run_dir, variant)
        fig.add_trace(go.Scatter(x=steps, y=accuracy, mode="lines+markers", name=VARIANT_TITLES[variant]))
    metrics = load_json(Path(run_dir) / "metrics.json") if (Path(run_dir) / "metrics.json").exists() else {}
    if "accuracy" in metrics:
        fig.add_hline(y=metrics["accuracy"], line_dash="dash",
                      annotation_text=f"label-free rule (area over all steps), adapter: {metrics['accuracy']:.2f}")
    fig.add_hline(y=0.5, line_dash="dot", annotation_text="chance")
    fig.update_layout(title="Figure 12 (POST HOC, uses labels): pair accuracy if decided at one training step",
                      xaxis_title="training step", yaxis_title="pair accuracy (324 pairs)", template="plotly_white")
    return fig


def _p_aligned_traces(fig: go.Figure, run_dir: str | Path, method: str, *, row: int | None = None,
                      col: int | None = None, aligned: bool = True, showlegend: bool = True) -> None:
    where = {} if row is None else {"row": row, "col": col}
    shown = set()
    for model, result in sorted(read_models(run_dir).items()):
        faker = is_faker(model)
        if not faker and not aligned:
            continue
        curve = result["methods"][method]
        group = "faker" if faker else "aligned (control)"
        fig.add_trace(go.Scatter(x=curve["steps"], y=curve["p_aligned"], mode="lines", name=group, legendgroup=group,
                                 showlegend=showlegend and group not in shown, hovertext=model,
                                 line={"color": COLORS[faker], "width": 1.2, "dash": "solid" if faker else "dot"}),
                      **where)
        shown.add(group)


def figure1(run_dir: str | Path) -> go.Figure:
    """One line per alignment faker: P(aligned action) where it misbehaved before, during method 2 (Figure 1)."""
    fig = go.Figure()
    _p_aligned_traces(fig, run_dir, "sft+noise", aligned=False)
    fig.update_layout(title="Figure 1: training against strategy 2 (noise in training) reduces alignment faking",
                      xaxis_title="training step", yaxis_title="P(aligned action), previously misaligned scenarios",
                      yaxis_range=[0, 1.02], template="plotly_white")
    return fig


def figure10(run_dir: str | Path) -> go.Figure:
    """Two panels (method 1, method 2): P(aligned action) per step, fakers solid, aligned controls dotted (Figure 10)."""
    fig = make_subplots(rows=1, cols=2, shared_yaxes=True, subplot_titles=[METHOD_TITLES[m] for m in METHODS])
    for col, method in enumerate(METHODS, start=1):
        _p_aligned_traces(fig, run_dir, method, row=1, col=col, showlegend=col == 1)
        fig.update_xaxes(title_text="training step", row=1, col=col)
    fig.update_yaxes(title_text="P(aligned action), previously misaligned scenarios", range=[0, 1.02], row=1, col=1)
    fig.update_layout(title="Figure 10: fine-tuning on benign answers, without and with noise", template="plotly_white",
                      width=1000)
    return fig
