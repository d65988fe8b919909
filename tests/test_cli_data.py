"""CLI: `baseline` and `data show` work, and bad input is one line with exit code 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from click.testing import Result
from typer.testing import CliRunner

from poser_interp.cli import app

runner = CliRunner()


def _one_line_error(result: Result) -> str:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: ")
    return lines[0]


def test_baseline_prints_and_writes_json(tmp_path: Path, mini_data_dir: Path) -> None:
    root = mini_data_dir
    out = tmp_path / "results" / "baseline.json"
    result = runner.invoke(app, ["baseline", "--data", str(root), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "accuracy 0.500 (2.5/5), 95% CI [" in result.stdout and "n_pairs=5" in result.stdout
    assert "truth_and_money.json" in result.stdout
    written = json.loads(out.read_text())
    assert written["accuracy"] == 0.5 and written["n_pairs"] == 5
    assert written["ci"]["low"] <= 0.5 <= written["ci"]["high"]
    assert written["per_file"]["data/benchmark/saint_and_reward.json"]["accuracy"] == 0.5
    assert not list(out.parent.glob(".*.tmp"))


def test_baseline_missing_dir(tmp_path: Path) -> None:
    line = _one_line_error(runner.invoke(app, ["baseline", "--data", str(tmp_path / "nope")]))
    assert "nope" in line and "directory not found" in line


def test_baseline_malformed_file(mini_data_dir: Path) -> None:
    root = mini_data_dir
    (root / "data/benchmark/saint_and_reward.json").write_text("[{", encoding="utf-8")
    line = _one_line_error(runner.invoke(app, ["baseline", "--data", str(root)]))
    assert "saint_and_reward.json: not valid JSON" in line
    (root / "model_pairs.json").write_text(json.dumps([{"aligned": "saint-0", "misaligned": "saint-1",
                                                        "valid_data": "x.json"}]), encoding="utf-8")
    line = _one_line_error(runner.invoke(app, ["baseline", "--data", str(root)]))
    assert "model_pairs.json, record 0, field 'misaligned'" in line


def test_data_show(tmp_path: Path) -> None:
    path = tmp_path / "records.json"
    scenario = {"prompt": "<<prompt>>Facts [1] here<</prompt>>", "response": "B", "actions": ["a", "b"],
                "facts": [{"content": "f"}], "oversight_is_poor": True, "dataset": "gen/x", "catch_level": 3}
    error = {"prompt": "random text", "response": "error"}
    path.write_text(json.dumps([scenario, error, scenario]), encoding="utf-8")
    result = runner.invoke(app, ["data", "show", str(path), "--n", "2"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "3 records (B: 2, error: 1)" in out
    assert "record 0 of 3 (scenario)" in out and "record 1 of 3 (error record)" in out
    assert "record 2 of 3" not in out
    assert "Facts [1] here" in out and "catch_level" in out and "poor" in out and "gen/x" in out
    result = runner.invoke(app, ["data", "show", str(path), "--index", "1"])
    assert result.exit_code == 0 and "random text" in result.stdout and "record 0 of" not in result.stdout
    assert "out of range" in _one_line_error(runner.invoke(app, ["data", "show", str(path), "--index", "9"]))
    assert "--n must be" in _one_line_error(runner.invoke(app, ["data", "show", str(path), "--n", "0"]))


def test_data_show_bad_files(tmp_path: Path) -> None:
    missing = _one_line_error(runner.invoke(app, ["data", "show", str(tmp_path / "none.json")]))
    assert "file not found" in missing
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"prompt": "p", "response": "A", "actions": ["a", "b"], "facts": [],
                                "oversight_is_poor": "yes"}]), encoding="utf-8")
    line = _one_line_error(runner.invoke(app, ["data", "show", str(bad)]))
    assert str(bad) in line and "record 0, field 'oversight_is_poor'" in line


def test_cli_import_stays_light() -> None:
    code = ("import sys, poser_interp.cli, poser_interp.data.poser, poser_interp.data.confidence; "
            "print(sorted(m for m in ('torch', 'transformer_lens') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert done.stdout.strip() == "[]"
