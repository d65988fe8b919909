"""Pathological JSON given to every command that reads JSON: one line on stderr, exit code 2, no traceback."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from poser_interp.cli import app
from poser_interp.errors import PoserInputError
from poser_interp.io import parse_json, read_json

runner = CliRunner()

# name -> (bytes of the file, or None for a directory; a phrase the one-line error must contain)
HOSTILE: dict[str, tuple[bytes | None, str]] = {
    "deep array": (b"[" * 200_000 + b"]" * 200_000, "nested too deeply"),
    "deep object": (b'{"a":' * 200_000 + b"1" + b"}" * 200_000, "nested too deeply"),
    "huge float": (b"[1e999999]", "too large for a float"),
    "huge int": (b"[" + b"9" * 50_000 + b"]", "unreadable JSON"),
    "NaN literal": (b"[NaN]", "NaN is not valid JSON"),
    "infinity literal": (b"[-Infinity]", "-Infinity is not valid JSON"),
    "invalid UTF-8": (b'[{"prompt": "\xff\xfe"}]', "not UTF-8 text"),
    "UTF-8 BOM": (b"\xef\xbb\xbf[]", "not valid JSON"),
    "NUL bytes": (b"\x00\x00", "not valid JSON"),
    "empty": (b"", "not valid JSON"),
    "truncated": (b'[{"prompt": ', "not valid JSON"),
    "directory": (None, "cannot read (it is a directory"),
}


def _make(path: Path, content: bytes | None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if content is None:
        path.mkdir()
    else:
        path.write_bytes(content)
    return path


def _one_line(result, phrase: str, where: Path) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: ") and phrase in lines[0] and where.name in lines[0], lines[0]


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_the_safe_reader_names_the_file(tmp_path: Path, case: str) -> None:
    content, phrase = HOSTILE[case]
    path = _make(tmp_path / "x.json", content)
    with pytest.raises(PoserInputError, match=re.escape(phrase)) as err:
        read_json(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_plain_json_still_reads():
    assert parse_json('{"a": [1, 2.5, -3e2, null, true]}', "here") == {"a": [1, 2.5, -300.0, None, True]}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_data_show(tmp_path: Path, case: str) -> None:
    content, phrase = HOSTILE[case]
    path = _make(tmp_path / "records.json", content)
    _one_line(runner.invoke(app, ["data", "show", str(path)]), phrase, path)


@pytest.mark.parametrize("case", ["deep array", "huge float", "invalid UTF-8", "directory"])
def test_baseline_data(mini_data_dir: Path, case: str) -> None:
    content, phrase = HOSTILE[case]
    for rel in ("model_pairs.json", "data/benchmark/saint_and_reward.json"):
        path = mini_data_dir / rel
        saved = path.read_bytes()
        path.unlink()
        _make(path, content)
        _one_line(runner.invoke(app, ["baseline", "--data", str(mini_data_dir)]), phrase, path)
        path.rmdir() if path.is_dir() else path.unlink()
        path.write_bytes(saved)


@pytest.mark.parametrize("command", ["figures", "benchmark"])
@pytest.mark.parametrize("case", ["deep object", "huge int", "NaN literal", "directory"])
def test_options_files(tmp_path: Path, command: str, case: str) -> None:
    content, phrase = HOSTILE[case]
    path = _make(tmp_path / "options.json", content)
    args = [command, "--zoo", str(tmp_path / "nozoo"), "--out", str(tmp_path / "out"), "--options", str(path)]
    _one_line(runner.invoke(app, args), phrase, path)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("case", ["deep array", "huge float", "invalid UTF-8", "directory"])
def test_zoo_manifest(tmp_path: Path, case: str) -> None:
    content, phrase = HOSTILE[case]
    path = _make(tmp_path / "zoo" / "manifest.json", content)
    phrase = "no zoo manifest here" if content is None else phrase  # the loader checks for a file first
    _one_line(runner.invoke(app, ["zoo", "check", "--zoo", str(tmp_path / "zoo")]), phrase, path)


@pytest.mark.parametrize("case", ["deep array", "huge float", "directory"])
def test_run_folder_files(tiny_zoo: Path, tmp_path: Path, monkeypatch, case: str) -> None:
    """A run folder whose config.json, or a line of scores.jsonl, is pathological."""
    monkeypatch.chdir(tmp_path)
    content, phrase = HOSTILE[case]
    out = tmp_path / "run"
    assert runner.invoke(app, ["detect", "baseline", "--zoo", str(tiny_zoo), "--out", str(out)]).exit_code == 0
    assert json.loads((out / "metrics.json").read_text())["n_pairs"] == 4  # `detect baseline` takes --out too
    config = (out / "config.json").read_bytes()
    (out / "config.json").unlink()
    path = _make(out / "config.json", content)
    _one_line(runner.invoke(app, ["detect", "baseline", "--zoo", str(tiny_zoo), "--out", str(out)]), phrase, path)
    path.rmdir() if path.is_dir() else path.unlink()
    (out / "config.json").write_bytes(config)
    if content is not None:
        scores = out / "scores.jsonl"
        scores.write_bytes(scores.read_bytes() + content + b"\n")
        result = runner.invoke(app, ["detect", "baseline", "--zoo", str(tiny_zoo), "--out", str(out)])
        _one_line(result, phrase, scores)
        assert ", line 5" in result.stderr
