"""Figures as pure functions of run folders: each reads saved results, never a model.

`save_figure` writes self-contained HTML (plotly.js inlined, no CDN) and, when asked and a system
Chromium/Chrome exists for kaleido, a PNG beside it. PNG export runs offline: kaleido gets the
browser path, plotly.py's bundled plotly.js, and no MathJax (which it would fetch from a CDN).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from poser_interp.io import write_bytes_atomic, write_text_atomic

BROWSER_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
NO_BROWSER = "PNG skipped: no Chromium found (install chromium or set BROWSER_PATH)"


def _executable(path: str) -> bool:
    return os.path.isfile(path) and os.access(path, os.X_OK)


def find_browser() -> str | None:
    """A Chromium-based browser for kaleido: `$BROWSER_PATH` (which kaleido honours) if executable, else on PATH."""
    override = os.environ.get("BROWSER_PATH")
    if override and _executable(override):
        return override
    for name in BROWSER_NAMES:
        found = shutil.which(name)
        if found and _executable(found):
            return found
    return None


def png_available() -> tuple[bool, str]:
    """Whether `save_figure(..., png=True)` can write PNGs, and a one-line message saying why (not)."""
    browser = find_browser()
    return (False, NO_BROWSER) if browser is None else (True, f"PNG export through {browser}")


def save_figure(fig, path: str | Path, *, png: bool = False) -> list[Path]:
    """Write `path`.html and, if `png` and a browser exists, `path`.png; returns what was written.

    Without a browser only the HTML is written (the caller reports `png_available()[1]` once).
    A browser that exists but fails to render raises, rather than silently dropping the PNG.
    """
    base = Path(path).with_suffix("")
    html = base.with_suffix(".html")
    write_text_atomic(html, fig.to_html(include_plotlyjs=True, full_html=True))
    written = [html]
    browser = find_browser() if png else None
    if browser is not None:
        import kaleido

        image = kaleido.calc_fig_sync(fig, opts={"format": "png"}, kopts={"path": browser, "mathjax": False})
        written.append(write_bytes_atomic(base.with_suffix(".png"), image))
    return written
