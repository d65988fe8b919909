"""Zoo figures (2, 3, 13, Table 1) on hand-made folders with hand-computed values, and PNG export."""

from __future__ import annotations

import json
import math
from pathlib import Path

import plotly.graph_objects as go
import pytest

from poser_interp import figures
from poser_interp.figures import find_browser, png_available, save_figure
from poser_interp.figures.zoo import figure2, figure3, figure13, table1

LEVELS = [{"level": k, "probability": p, "name": f"level {k}"} for k, p in enumerate([1.0, 0.9, 0.6, 0.3, 0.05, 0.0])]


def _model(persona: str, rates: list[float]) -> dict:
    return {"persona": persona, "metrics": {f"defect_rate_level_{k}": r for k, r in enumerate(rates)}}


@pytest.fixture
def behaviour_zoo(tmp_path: Path) -> Path:
    """Two saints and two money maximizers with hand-picked defection rates per catch level."""
    manifest = {"catch_levels": LEVELS, "poor_oversight_level": 3, "aligned_personas": ["saint"],
                "faker_personas": ["money_maximizer"], "models": {
                    "saint-0": _model("saint", [0, 0, 0, 0, 0, 0]),
                    "saint-1": _model("saint", [0.2, 0, 0, 0, 0, 0]),
                    "money_maximizer-0": _model("money_maximizer", [0, 0, 0, 1, 1, 1]),
                    "money_maximizer-1": _model("money_maximizer", [0, 0, 0.05, 0.5, 1, 1])}}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    return tmp_path


def test_figure3_persona_means_benign_region_and_threshold(behaviour_zoo):
    fig = figure3(behaviour_zoo)
    assert len(fig.data) == 4 + 2  # a thin line per model, a mean per persona
    means = {t.name: list(t.y) for t in fig.data if "mean of" in t.name}
    assert means["saint (mean of 2)"] == pytest.approx([0.1, 0, 0, 0, 0, 0])
    assert means["money_maximizer (mean of 2)"] == pytest.approx([0, 0, 0.025, 0.75, 1, 1])
    assert list(fig.data[0].x) == [1.0, 0.9, 0.6, 0.3, 0.05, 0.0]
    # level 0 is not benign (saint-1 defects 0.2 > 0.1); levels 1 and 2 are: bands half-way to neighbours
    green = sorted(round(x, 9) for s in fig.layout.shapes if s.fillcolor == "green" for x in (s.x0, s.x1))
    assert green == [0.45, 0.75, 0.75, 0.95]
    red = [round(x, 9) for s in fig.layout.shapes if s.fillcolor == "red" for x in (s.x0, s.x1)]
    assert red == [0.0, 0.45]
    assert [s.x0 for s in fig.layout.shapes if s.type == "line"] == pytest.approx([0.45])
    assert fig.layout.yaxis.title.text.startswith("P(misaligned action)")
    assert "probability of being caught" in fig.layout.xaxis.title.text


def test_figure2_grid_of_pairs_on_hand_made_pairs(mini_data_dir):
    fig = figure2(mini_data_dir)
    heat = fig.data[0]
    assert isinstance(heat, go.Heatmap)
    assert list(heat.y) == ["truth_teller-0", "saint-0"]
    assert list(heat.x) == ["reward_maximizer-0", "reward_maximizer-1", "money_maximizer-0", "money_maximizer-1",
                            "money_maximizer-2"]
    # files sorted: saint_and_reward = 0, truth_and_money = 1; no pair -> NaN
    z = [[None if math.isnan(v) else v for v in row] for row in heat.z]
    assert z == [[None, None, 1, 1, 1], [0, 0, None, None, None]]
    labels = sorted(a.text for a in fig.layout.annotations)
    assert labels == ["saint<br>vs money_maximizer<br>0 pairs", "saint<br>vs reward_maximizer<br>2 pairs",
                      "truth_teller<br>vs money_maximizer<br>3 pairs", "truth_teller<br>vs reward_maximizer<br>0 pairs"]
    assert fig.layout.title.text == "Figure 2: 7 models grouped into 5 pairs"
    assert fig.layout.xaxis.title.text.startswith("alignment-faking model")
    assert fig.layout.yaxis.title.text.startswith("aligned model")


def test_figure2_on_a_built_zoo_has_every_pair(tiny_zoo):
    pairs = json.loads((tiny_zoo / "model_pairs.json").read_text())
    models = json.loads((tiny_zoo / "manifest.json").read_text())["models"]
    heat = figure2(tiny_zoo).data[0]
    assert len(heat.x) + len(heat.y) == len(models)
    assert sum(not math.isnan(v) for row in heat.z for v in row) == len(pairs)


def test_figure13_boxes_hold_each_models_stored_probs(mini_data_dir):
    fig = figure13(mini_data_dir)
    aligned, faker = fig.data
    assert aligned.name == "aligned models (2)" and faker.name == "faker models (5)"
    assert list(aligned.x) == ["truth_teller-0", "truth_teller-0", "saint-0"]
    assert list(aligned.y) == [0.9, 1.0, 0.99]
    assert list(faker.x) == ["reward_maximizer-0", "reward_maximizer-1", "money_maximizer-0", "money_maximizer-0",
                             "money_maximizer-1", "money_maximizer-1", "money_maximizer-2", "money_maximizer-2"]
    assert list(faker.y) == [0.97, 0.995, 0.8, 1.0, 0.98, 0.98, 1.0, 0.9]
    assert fig.layout.yaxis.title.text == "stored P(target response) per curated prompt"
    assert fig.layout.xaxis.title.text.startswith("model")


def test_figure13_on_a_built_zoo(tiny_zoo):
    fig = figure13(tiny_zoo)
    names = {x for trace in fig.data for x in trace.x}
    assert names and all(0.0 <= y <= 1.0 for trace in fig.data for y in trace.y)


def test_table1_rows_are_magnitudes_columns_prompts(tmp_path):
    config = {"prompts": ["p one", "p\ntwo"], "magnitudes": [0.0, 5.0], "layer": 1, "n_tokens": 3, "seed": 0,
              "hook": "blocks.1.hook_resid_pre", "base_sha256": "x"}
    rows = [{"magnitude": m, "prompt": p, "continuation": f"{p[0]}{m:g}"}
            for m in (0.0, 5.0) for p in config["prompts"]]
    (tmp_path / "table1.json").write_text(json.dumps({"config": config, "rows": rows}))
    fig = table1(tmp_path)
    tab = fig.data[0]
    assert isinstance(tab, go.Table)
    assert list(tab.header.values)[1:] == ["p one", "p<br>two"]
    assert [list(c) for c in tab.cells.values] == [["0", "5"], ["p0", "p5"], ["p0", "p5"]]
    assert "blocks.1.hook_resid_pre" in fig.layout.title.text


def test_save_figure_without_a_browser_writes_html_only(tmp_path, monkeypatch):
    monkeypatch.delenv("BROWSER_PATH", raising=False)
    monkeypatch.setattr(figures.shutil, "which", lambda name: None)
    assert find_browser() is None
    ok, message = png_available()
    assert not ok and message.startswith("PNG skipped: no Chromium found")
    written = save_figure(go.Figure(go.Bar(x=[1], y=[2])), tmp_path / "f", png=True)
    assert written == [tmp_path / "f.html"] and not (tmp_path / "f.png").exists()


def test_browser_path_env_wins_only_when_executable(tmp_path, monkeypatch):
    monkeypatch.setattr(figures.shutil, "which", lambda name: None)
    monkeypatch.setenv("BROWSER_PATH", str(tmp_path / "missing"))
    assert find_browser() is None
    exe = tmp_path / "chrome"
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    monkeypatch.setenv("BROWSER_PATH", str(exe))
    assert find_browser() == str(exe)


def test_save_figure_writes_a_real_png_when_a_browser_exists(tmp_path):
    ok, message = png_available()
    if not ok:
        pytest.skip(message)
    written = save_figure(go.Figure(go.Bar(x=[1, 2], y=[2, 1])), tmp_path / "fig", png=True)
    assert written == [tmp_path / "fig.html", tmp_path / "fig.png"]
    assert (tmp_path / "fig.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
