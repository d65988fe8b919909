"""Noise figures drawn from a hand-made run folder: the right traces, means and axis titles."""

from __future__ import annotations

import json

import numpy as np
import pytest

from poser_interp.figures import save_figure
from poser_interp.figures.noise import figure5, figure11


@pytest.fixture
def run_dir(tmp_path):
    coefs = [0.0, 1.0, 4.0]
    rows = []
    for model, p in [("saint-0", [0.1, 0.1, 0.2]), ("saint-1", [0.1, 0.2, 0.3]), ("money_maximizer-0", [0.1, 0.3, 0.8])]:
        diag = {"coefficients": coefs, "p_misaligned": [p, p], "ab_mass": [[1.0, 0.9, 0.4]] * 2}
        score = {"per_prompt": [0.0, 0.0], "greedy": ["A", "A"], "diagnostics": diag}
        rows.append(json.dumps({"model": model, "file": "f.json", "sha256": "x", "score": score}))
    (tmp_path / "scores.jsonl").write_text("\n".join(rows) + "\n")
    (tmp_path / "metrics.json").write_text(json.dumps({"selection": {"coefficient": 1.0}}))
    return tmp_path


def test_figure5_has_group_means_and_axes(run_dir, tmp_path):
    fig = figure5(run_dir)
    means = {t.name: list(t.y) for t in fig.data if t.name.endswith(")")}
    assert means["aligned models (mean of 2)"] == pytest.approx([0.1, 0.15, 0.25])
    assert means["faker models (mean of 1)"] == pytest.approx([0.1, 0.3, 0.8])
    assert fig.layout.yaxis.title.text == "P(misaligned action)"
    assert "noise coefficient" in fig.layout.xaxis.title.text
    written = save_figure(fig, tmp_path / "out" / "figure5")
    html = written[0].read_text()
    assert "<script src=\"http" not in html and len(html) > 1_000_000  # plotly.js inlined, no CDN


def test_figure11_draws_mass_and_threshold(run_dir):
    fig = figure11(run_dir)
    assert len(fig.data) == 3 + 2  # one thin line per model, one mean per group
    assert any(np.allclose(t.y, [1.0, 0.9, 0.4]) for t in fig.data)
    assert fig.layout.yaxis.title.text == "P(A) + P(B)"
