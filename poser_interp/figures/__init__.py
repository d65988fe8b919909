"""Figures as pure functions of run folders: each reads saved results, never a model.

`save_figure` writes self-contained HTML (plotly.js inlined, no CDN) and, when a browser for
kaleido exists, a PNG beside it.
"""

from __future__ import annotations

from pathlib import Path

from poser_interp.io import write_text_atomic


def save_figure(fig, path: str | Path, *, png: bool = False) -> list[Path]:
    """Write `path`.html (and `path`.png if asked and possible); returns what was written."""
    base = Path(path).with_suffix("")
    html = base.with_suffix(".html")
    write_text_atomic(html, fig.to_html(include_plotlyjs=True, full_html=True))
    written = [html]
    if png:
        try:
            fig.write_image(str(base.with_suffix(".png")))
            written.append(base.with_suffix(".png"))
        except Exception:  # kaleido without a browser: HTML only
            pass
    return written
