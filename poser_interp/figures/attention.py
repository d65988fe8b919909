"""Attention-strategy figures: Figure 9 (gradient saliency over one prompt's tokens) and an offline
circuitsvis attention view. Both read a model, since the per-token values are not kept in run folders."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import torch
from jaxtyping import Bool, Float

from poser_interp.data.records import Scenario
from poser_interp.hooks import block_hook
from poser_interp.io import write_text_atomic
from poser_interp.readout import letter_ids, model_inputs
from poser_interp.strategies.attention import critical_mask, embedding_saliency


def token_saliency(model, scenario: Scenario) -> tuple[list[str], Float[np.ndarray, " pos"], Bool[np.ndarray, " pos"]]:
    """The prompt's tokens, |d log P(greedy letter) / d embedding| per token, and which are critical-fact tokens."""
    tokens, lengths = model_inputs(model, [scenario.prompt])
    with torch.no_grad():
        last = model(tokens, return_type="logits")[0, -1]
    ab = letter_ids(model.tokenizer, ["A", "B"])
    target = ab[:1] if last[ab[0]] > last[ab[1]] else ab[1:]
    sal = embedding_saliency(model, tokens, lengths, target)[0]
    names = model.tokenizer.convert_ids_to_tokens(tokens[0].tolist())
    return names, sal.numpy(), critical_mask(model, [scenario], tokens.shape[1])[0].numpy()


def figure9(tokens: Sequence[str], saliency: Float[np.ndarray, " n"] | Sequence[float],
            critical: Bool[np.ndarray, " n"] | Sequence[bool] | None = None, *,
            width: int = 16, title: str = "Figure 9: gradient saliency per token") -> go.Figure:
    """Heat-map of per-token saliency, the prompt wrapped `width` tokens a row; critical-fact tokens in bold."""
    n = len(tokens)
    critical = [False] * n if critical is None else list(critical)
    rows = -(-n // width)
    z = np.full((rows, width), np.nan)
    text = [[""] * width for _ in range(rows)]
    for i, (tok, value, crit) in enumerate(zip(tokens, saliency, critical, strict=True)):
        z[i // width, i % width] = value
        text[i // width][i % width] = f"<b>{tok}</b>" if crit else str(tok)
    fig = go.Figure(go.Heatmap(z=z, text=text, texttemplate="%{text}", colorscale="Reds", xgap=1, ygap=1,
                               colorbar={"title": "|grad|"}, hovertemplate="%{text}: %{z:.3g}<extra></extra>"))
    fig.update_layout(title=title + " (critical-fact tokens in bold)", template="plotly_white")
    fig.update_yaxes(autorange="reversed", showticklabels=False)
    fig.update_xaxes(showticklabels=False)
    return fig


def write_attention_view(model, prompt: str, path: str | Path, *, layer: int | None = None) -> Path:
    """A self-contained HTML attention view (circuitsvis, its JavaScript inlined): one layer, or all
    layers' heads stacked (head index = layer * n_heads + head)."""
    import circuitsvis.attention

    layers = range(model.cfg.n_layers) if layer is None else [layer]
    names = [block_hook(i, "attn.hook_pattern") for i in layers]
    tokens, _ = model_inputs(model, [prompt])
    with torch.no_grad():
        _, cache = model.run_with_cache(tokens, names_filter=names)
    patterns = torch.cat([cache[name][0] for name in names]).float().cpu()
    strs = model.tokenizer.convert_ids_to_tokens(tokens[0].tolist())
    view = circuitsvis.attention.attention_patterns(tokens=strs, attention=patterns)
    html = ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>attention</title></head><body>\n"
            + view.local_src + "\n</body></html>\n")  # never str()/_repr_html_: those load from a CDN
    out = Path(path)
    write_text_atomic(out, html)
    return out
