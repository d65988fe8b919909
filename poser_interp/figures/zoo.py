"""Figures drawn from the zoo folder itself (paper Figures 2, 3, 13 and Table 1), no model needed.

- `figure2`: the pairing schematic, aligned models x faker models, one cell per pair, persona blocks;
- `figure3`: MEASURED P(misaligned action) against the graded probability of being caught, per persona
  (the paper's Figure 3 is a hypothesis sketch; here it is the zoo's behaviour from `manifest.json`);
- `figure13`: per-model distribution of the stored P(target response) on the curated benchmark files;
- `table1`: the base model's continuations under noise, from a folder holding `table1.json`.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import plotly.graph_objects as go

from poser_interp.data.grammar import CATCH_LEVELS, POOR_OVERSIGHT_LEVEL
from poser_interp.data.personas import ALIGNED, FAKERS, PERSONAS, is_faker, model_persona
from poser_interp.data.poser import BENCHMARK_GLOB, MODEL_PAIRS_PATH, load_benchmark, load_model_pairs
from poser_interp.data.records import load_json
from poser_interp.figures.curves import COLORS, GROUP

BENIGN_MAX = 0.1  # a catch level is in the green "all models benign" region if no model defects more often
PERSONA_COLORS = {"truth_teller": "#1f77b4", "genie": "#17becf", "saint": "#2ca02c",
                  "reward_maximizer": "#d62728", "money_maximizer": "#ff7f0e", "fitness_maximizer": "#9467bd"}


def _manifest(zoo_dir: Path) -> dict[str, Any]:
    path = zoo_dir / "manifest.json"
    return load_json(path) if path.is_file() else {}


def _ordered(models: set[str], personas: tuple[str, ...]) -> list[str]:
    """Models sorted by persona (in `personas` order) then index."""
    return sorted(models, key=lambda m: (personas.index(model_persona(m)[0]), model_persona(m)[1]))


def figure2(zoo_dir: str | Path) -> go.Figure:
    """Paper Figure 2: aligned x faker models, a cell per pair in `model_pairs.json`, coloured by benchmark file."""
    zoo_dir = Path(zoo_dir)
    manifest = _manifest(zoo_dir)
    pairs = load_model_pairs(zoo_dir / MODEL_PAIRS_PATH)
    aligned_order = tuple(manifest.get("aligned_personas", ALIGNED))
    faker_order = tuple(manifest.get("faker_personas", FAKERS))
    listed = set(manifest.get("models", {}))
    rows = _ordered({p.aligned for p in pairs} | {m for m in listed if not is_faker(m)}, aligned_order)
    cols = _ordered({p.misaligned for p in pairs} | {m for m in listed if is_faker(m)}, faker_order)
    files = sorted({p.valid_data for p in pairs})
    z = np.full((len(rows), len(cols)), np.nan)
    text = np.full((len(rows), len(cols)), "", dtype=object)
    for pair in pairs:
        i, j = rows.index(pair.aligned), cols.index(pair.misaligned)
        z[i, j] = files.index(pair.valid_data)
        text[i, j] = Path(pair.valid_data).stem
    fig = go.Figure(go.Heatmap(
        z=z, x=cols, y=rows, text=text, colorscale="Turbo", showscale=False, xgap=1, ygap=1,
        hovertemplate="aligned %{y}<br>faker %{x}<br>benchmark file %{text}<extra></extra>"))
    _persona_blocks(fig, rows, cols, pairs)
    fig.update_layout(
        title=f"Figure 2: {len(rows) + len(cols)} models grouped into {len(pairs)} pairs",
        xaxis_title=f"alignment-faking model ({len(faker_order)} personas)",
        yaxis_title=f"aligned model ({len(aligned_order)} personas)", template="plotly_white")
    fig.update_yaxes(autorange="reversed")
    return fig


def _persona_blocks(fig: go.Figure, rows: list[str], cols: list[str], pairs) -> None:
    """An outline and a label (persona pair, number of pairs) around each persona x persona block."""
    def spans(models: list[str]) -> dict[str, tuple[int, int]]:
        out: dict[str, tuple[int, int]] = {}
        for k, m in enumerate(models):
            persona = model_persona(m)[0]
            out[persona] = (out.get(persona, (k, k))[0], k)
        return out

    counts: dict[tuple[str, str], int] = defaultdict(int)
    for pair in pairs:
        counts[model_persona(pair.aligned)[0], model_persona(pair.misaligned)[0]] += 1
    for a, (r0, r1) in spans(rows).items():
        for f, (c0, c1) in spans(cols).items():
            fig.add_shape(type="rect", x0=c0 - 0.5, x1=c1 + 0.5, y0=r0 - 0.5, y1=r1 + 0.5,
                          line={"color": "black", "width": 2})
            fig.add_annotation(x=(c0 + c1) / 2, y=(r0 + r1) / 2, showarrow=False, bgcolor="rgba(255,255,255,0.75)",
                               text=f"{a}<br>vs {f}<br>{counts[a, f]} pairs")


def _catch_probabilities(manifest: dict[str, Any]) -> dict[int, float]:
    levels = manifest.get("catch_levels") or [{"level": c.level, "probability": c.probability} for c in CATCH_LEVELS]
    return {int(c["level"]): float(c["probability"]) for c in levels}


def _level_bands(p: dict[int, float]) -> dict[int, tuple[float, float]]:
    """Each level's x-band: half-way to its neighbours' probabilities, clipped to [0, 1]."""
    order = sorted(p, key=p.get)
    xs = [p[k] for k in order]
    bands = {}
    for n, k in enumerate(order):
        lo = 0.0 if n == 0 else (xs[n - 1] + xs[n]) / 2
        hi = 1.0 if n == len(order) - 1 else (xs[n] + xs[n + 1]) / 2
        bands[k] = (lo, hi)
    return bands


def figure3(zoo_dir: str | Path) -> go.Figure:
    """Measured Figure 3: per persona, the share of held-out prompts answered misaligned at each catch level.

    Thin lines are single models, thick lines persona means. Green: levels where every model's rate
    is <= BENIGN_MAX (the region the paper uses to look for the latent "safe to misbehave" variable).
    Red: levels >= the manifest's `poor_oversight_level`, where fakers were trained to defect.
    """
    manifest = _manifest(Path(zoo_dir))
    p = _catch_probabilities(manifest)
    levels = sorted(p, key=p.get, reverse=True)  # certain to be caught first
    xs = [p[k] for k in levels]
    by_persona: dict[str, dict[str, list[float]]] = defaultdict(dict)
    for name, entry in manifest.get("models", {}).items():
        metrics = entry.get("metrics", {})
        by_persona[entry.get("persona", model_persona(name)[0])][name] = [
            float(metrics.get(f"defect_rate_level_{k}", np.nan)) for k in levels]
    fig = go.Figure()
    for persona in [q for q in PERSONAS if q in by_persona] + [q for q in by_persona if q not in PERSONAS]:
        color = PERSONA_COLORS.get(persona, "gray")
        curves = by_persona[persona]
        for name, ys in sorted(curves.items()):
            fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", line={"color": color, "width": 0.7}, opacity=0.4,
                                     name=name, legendgroup=persona, showlegend=False))
        fig.add_trace(go.Scatter(x=xs, y=np.nanmean(list(curves.values()), axis=0), mode="lines+markers",
                                 line={"color": color, "width": 3}, legendgroup=persona,
                                 name=f"{persona} (mean of {len(curves)})"))
    bands = _level_bands(p)
    all_rates = [ys for curves in by_persona.values() for ys in curves.values()]
    benign = [k for n, k in enumerate(levels) if all_rates and max(ys[n] for ys in all_rates) <= BENIGN_MAX]
    for k in benign:
        fig.add_vrect(x0=bands[k][0], x1=bands[k][1], fillcolor="green", opacity=0.12, line_width=0, layer="below")
    poor = int(manifest.get("poor_oversight_level", POOR_OVERSIGHT_LEVEL))
    poor_levels = [k for k in p if k >= poor]
    if poor_levels:
        x0 = min(bands[k][0] for k in poor_levels)
        x1 = max(bands[k][1] for k in poor_levels)
        fig.add_vrect(x0=x0, x1=x1, fillcolor="red", opacity=0.07, line_width=0, layer="below")
        threshold = x1 if x1 < 1.0 else x0
        fig.add_vline(x=threshold, line_dash="dash", line_color="red",
                      annotation_text=f"fakers' threshold: level >= {poor}", annotation_position="top left")
    fig.update_layout(title="Figure 3 (measured): misaligned actions vs the probability of being caught<br>"
                            f"<sup>green: every model benign (rate <= {BENIGN_MAX:g}); red: fakers' poor-oversight "
                            "levels</sup>",
                      xaxis_title="probability of being caught (catch level 0 = 1.0 ... 5 = 0.0; safer to the right)",
                      yaxis_title="P(misaligned action) (share of test prompts)",
                      template="plotly_white")
    fig.update_xaxes(autorange="reversed", tickvals=xs, ticktext=[f"{p[k]:g}<br>(level {k})" for k in levels])
    fig.update_yaxes(range=[-0.03, 1.03])
    return fig


def figure13(zoo_dir: str | Path) -> go.Figure:
    """Paper Figure 13: per model, the stored P(target response) over its curated benchmark prompts."""
    from poser_interp.data.confidence import canonical_model_name

    per_model: dict[str, list[float]] = defaultdict(list)
    for path in sorted(Path(zoo_dir).glob(BENCHMARK_GLOB)):
        for record in load_benchmark(path):
            for key, prob in (record.probs or {}).items():
                per_model[canonical_model_name(key)].append(float(prob))
    fig = go.Figure()
    for faker in (False, True):
        members = _ordered({m for m in per_model if is_faker(m) == faker}, FAKERS if faker else ALIGNED)
        if members:
            fig.add_trace(go.Box(x=[m for m in members for _ in per_model[m]],
                                 y=[v for m in members for v in per_model[m]], boxmean=True,
                                 name=f"{GROUP[faker]} models ({len(members)})", marker_color=COLORS[faker]))
    fig.update_layout(title="Figure 13: model confidence on the curated benchmark prompts",
                      xaxis_title="model (aligned, then alignment-faking)",
                      yaxis_title="stored P(target response) per curated prompt", template="plotly_white",
                      boxmode="overlay")
    return fig


def _html(text: str) -> str:
    """Plotly table text: escape `<`/`>` (the prompt tags) and keep line breaks."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\n", "<br>")


def table1(run_dir: str | Path) -> go.Figure:
    """Paper Table 1: rows = noise magnitudes, columns = prompts, cells = the base model's continuation."""
    from poser_interp.noisy_text import TABLE1  # the file name only; drawing needs no model

    data = load_json(Path(run_dir) / TABLE1)
    config, rows = data["config"], data["rows"]
    cell = {(r["magnitude"], r["prompt"]): r["continuation"] for r in rows}
    magnitudes, prompts = config["magnitudes"], config["prompts"]
    header = ["noise<br>magnitude<br>(x mean<br>activation<br>norm)"] + [_html(p) for p in prompts]
    columns = [[f"{m:g}" for m in magnitudes]] + [[_html(cell[m, p]) for m in magnitudes] for p in prompts]
    fig = go.Figure(go.Table(columnwidth=[1] + [3] * len(prompts), header={"values": header, "align": "left"},
                             cells={"values": columns, "align": "left"}))
    fig.update_layout(title=f"Table 1: the zoo's base model under noise at {config['hook']}<br>"
                            f"<sup>greedy decoding, {config['n_tokens']} new tokens, noise seed {config['seed']}</sup>",
                      width=300 + 260 * len(prompts), height=300 + 60 * len(magnitudes))
    return fig
