"""Offline plotly rendering in notebooks: plotly.js inlined, and no MathJax `<script>` from a CDN."""

from __future__ import annotations

import plotly.io as pio
from plotly.io.base_renderers import NotebookRenderer


class OfflineNotebookRenderer(NotebookRenderer):
    """plotly's "notebook" renderer (plotly.js inlined once, on first use) without the MathJax tag it
    would otherwise load from a CDN: figures render with no network at all."""

    def to_mimebundle(self, fig_dict):
        return {"text/html": pio.to_html(fig_dict, config=self.config, include_plotlyjs=False, include_mathjax=False,
                                         full_html=False, default_width="100%", validate=False)}


def use_offline_renderer() -> None:
    """Make offline rendering the default: the mimetype for JupyterLab, inline HTML for classic/nbconvert."""
    pio.renderers["offline_notebook"] = OfflineNotebookRenderer()
    pio.renderers.default = "plotly_mimetype+offline_notebook"
