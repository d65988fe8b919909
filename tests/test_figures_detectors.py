"""The weight-noise and defection-probe figures drawn from hand-made run folders: traces, group means, axes."""

from __future__ import annotations

import json

import pytest

from poser_interp.figures.defection_probe import defection_probe_figure, probe_scores
from poser_interp.figures.weight_noise import weight_noise_figure
from poser_interp.pipeline.runs import run_figures


def _write_scores(folder, rows, selection=None):
    lines = [json.dumps({"model": m, "file": "f.json", "sha256": "x", "score": s}) for m, s in rows]
    (folder / "scores.jsonl").write_text("\n".join(lines) + "\n")
    (folder / "metrics.json").write_text(json.dumps({"selection": selection or {}}))
    return folder


def test_weight_noise_figure_has_both_panels_group_means_and_the_shared_sigma(tmp_path):
    coefs = [0.0, 0.1, 0.4]
    rows = [(m, {"per_prompt": [0.0], "greedy": ["A"],
                 "diagnostics": {"coefficients": coefs, "p_misaligned": [p], "ab_mass": [[1.0, 0.8, 0.3]]}})
            for m, p in (("saint-0", [0.1, 0.1, 0.2]), ("genie-0", [0.1, 0.3, 0.4]), ("money_maximizer-0", [0.1, 0.5, 0.6]))]
    fig = weight_noise_figure(_write_scores(tmp_path, rows, {"coefficient": 0.1}))
    means = [t for t in fig.data if t.line.width == 3]
    assert [t.name for t in means] == ["aligned models (mean of 2)", "faker models (mean of 1)"] * 2
    assert list(means[0].y) == pytest.approx([0.1, 0.2, 0.3]) and list(means[1].y) == pytest.approx([0.1, 0.5, 0.6])
    assert list(means[-1].y) == pytest.approx([1.0, 0.8, 0.3])  # the A+B mass panel
    assert "sigma" in fig.layout.xaxis.title.text and fig.layout.yaxis.title.text == "P(misaligned action)"
    assert 0.1 in [s.x0 for s in fig.layout.shapes] and 0.5 in [s.y0 for s in fig.layout.shapes]
    assert set(run_figures("weight-noise")) == {"figure14"}


def test_defection_probe_figure_has_one_violin_per_class_and_probe(tmp_path):
    def score(main, logistic, control):
        return {"per_prompt": main, "greedy": ["A"] * len(main),
                "diagnostics": {"variants": {"logistic": logistic, "control": control}}}

    rows = [("saint-0", score([-0.4, -0.2], [-3.0, -1.0], [0.1, 0.2])),
            ("money_maximizer-0", score([0.3], [2.0], [0.0]))]
    folder = _write_scores(tmp_path, rows)
    scores = probe_scores(folder)
    assert scores[("mean difference (evidence)", False)] == [-0.4, -0.2]
    assert scores[("logistic probe (log-odds)", True)] == [2.0]
    fig = defection_probe_figure(folder)
    assert len(fig.data) == 6 and [t.name for t in fig.data[:2]] == ["aligned models", "faker models"]
    assert list(fig.data[2].y) == [-3.0, -1.0] and list(fig.data[5].y) == [0.0]
    assert set(run_figures("defection-probe")) == {"figure15"}
