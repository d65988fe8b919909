"""`poser-interp detect ...` and `zoo check` on the tiny zoo, driven through typer's CliRunner."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from poser_interp.cli import app

runner = CliRunner()


def test_detect_noise_writes_a_run_folder_and_prints_the_table(tiny_zoo, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "noise-run"
    args = ["detect", "noise", "--zoo", str(tiny_zoo), "--draws", "2", "--seeds", "0", "--out", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "baseline" in result.output and "noise" in result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n_pairs"] == 4
    assert "coefficient" in metrics["selection"]
    assert {"by_confidence", "by_catch_level"} <= set(metrics["diagnostics"])
    assert len((out / "decisions.jsonl").read_text().splitlines()) == 4
    first = (out / "metrics.json").read_bytes()
    again = runner.invoke(app, args)  # reuses every finished score
    assert again.exit_code == 0 and (out / "metrics.json").read_bytes() == first


def test_detect_errors_are_one_line(tiny_zoo, tmp_path):
    result = runner.invoke(app, ["detect", "noise", "--zoo", str(tiny_zoo), "--family", "pink"])
    assert result.exit_code == 2 and "unknown noise family" in result.output and "Traceback" not in result.output
    result = runner.invoke(app, ["detect", "noise", "--zoo", str(tmp_path / "missing")])
    assert result.exit_code == 2 and "no zoo manifest" in result.output


def test_zoo_check_prints_the_behaviour_table(tiny_zoo):
    result = runner.invoke(app, ["zoo", "check", "--zoo", str(tiny_zoo)])
    assert result.exit_code == 0, result.output
    assert "money_maximizer-1" in result.output and "miss:" in result.output  # micro models miss targets


@pytest.mark.parametrize("strategy", ["steering", "concepts", "decision-speed", "attention"])
def test_every_strategy_runs_through_the_cli(tiny_zoo, tmp_path, monkeypatch, strategy):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / strategy
    result = runner.invoke(app, ["detect", strategy, "--zoo", str(tiny_zoo), "--out", str(out)])
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n_pairs"] == 4
    if strategy in ("steering", "concepts", "attention", "decision-speed"):
        assert metrics["variants"], "controls/variants are evaluated in the same run"


@pytest.mark.parametrize(("strategy", "options", "variants"), [
    ("weight-noise", ["--seeds", "0,1"], set()), ("defection-probe", ["--stimuli", "zoo"], {"logistic", "control"})])
def test_issue_15_detectors_run_through_the_cli(tiny_zoo, tmp_path, monkeypatch, strategy, options, variants):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / strategy
    result = runner.invoke(app, ["detect", strategy, "--zoo", str(tiny_zoo), "--out", str(out), "--seed", "1", *options])
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n_pairs"] == 4 and set(metrics["variants"]) == variants
    assert {"by_confidence", "by_catch_level"} <= set(metrics["diagnostics"])
    assert json.loads((out / "config.json").read_text())["seed"] == 1
    assert (out / ("figure14.html" if strategy == "weight-noise" else "figure15.html")).exists()
    if strategy == "weight-noise":
        assert metrics["selection"]["coefficient"] > 0 and "flip_rate_at_chosen" in metrics["diagnostics"]
    bad = runner.invoke(app, ["detect", strategy, "--zoo", str(tiny_zoo),
                              *(["--seeds", "x"] if strategy == "weight-noise" else ["--stimuli", "klingon"])])
    assert bad.exit_code == 2 and "Traceback" not in bad.output and len(bad.output.strip().splitlines()) == 1


def test_learning_speed_runs_through_the_cli_with_both_variants(tiny_zoo, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "learning-speed"
    result = runner.invoke(app, ["detect", "learning-speed", "--zoo", str(tiny_zoo), "--steps", "2", "--out", str(out)])
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n_pairs"] == 4 and set(metrics["variants"]) == {"full"}
    assert {"by_confidence", "by_catch_level"} <= set(metrics["diagnostics"])
    assert (out / "figure6.html").exists() and (out / "figure12.html").exists()
    bad = runner.invoke(app, ["detect", "learning-speed", "--zoo", str(tiny_zoo), "--steps", "0"])
    assert bad.exit_code == 2 and "--steps" in bad.output


def test_train_against_noise_runs_through_the_cli(tiny_zoo, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "train-against"
    args = ["train-against", "noise", "--zoo", str(tiny_zoo), "--steps", "4", "--out", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["p_aligned"]) == {"sft", "sft+noise"}
    assert set(metrics["p_aligned"]["sft"]) == {"faker", "aligned"}
    assert {"untreated", "sft", "sft+noise"} <= set(metrics["redetection"])
    assert metrics["redetection"]["untreated"]["n_pairs"] == 4
    assert (out / "figure1.html").exists() and (out / "figure10.html").exists()
    first = (out / "metrics.json").read_bytes()
    again = runner.invoke(app, args)  # every model is reused: same metrics, byte for byte
    assert again.exit_code == 0 and (out / "metrics.json").read_bytes() == first
