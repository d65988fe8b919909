"""`poser-interp figures` and `benchmark` on the tiny zoo: every figure from run folders, the results
table in Markdown and JSON, reuse of finished work, and the training figures' traces and axes."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from poser_interp.cli import app
from poser_interp.figures import training

runner = CliRunner()

FIGURES = ["figure01_train_against", "figure02_pairs", "figure03_threshold", "figure04_steering", "figure05_noise",
           "figure06_learning_speed", "figure07_concepts", "figure08_decision_speed", "figure09_saliency",
           "figure10_train_against_methods", "figure11_ab_mass", "figure12_learning_speed_per_step",
           "figure13_confidence", "figure14_weight_noise", "figure15_defection_probe", "table1_noisy_base"]


# Small settings so the whole pipeline runs on the tiny zoo in a test.
OPTIONS = {"noise": {"n_draws": 2, "seeds": [0], "coefficients": [1.0, 8.0, 64.0]},
           "steering": {"n_pairs": 8, "coefficients": [1.0, 8.0, 64.0]},
           "learning-speed": {"steps": 2}, "train-against": {"steps": 4, "eval_every": 2, "redetect_draws": 2},
           "weight-noise": {"sigmas": [0.1, 0.8], "seeds": [0]}}


@pytest.fixture(scope="module")
def figures_run(tiny_zoo, tmp_path_factory):
    root = tmp_path_factory.mktemp("figures")
    (root / "options.json").write_text(json.dumps(OPTIONS))
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        args = ["--zoo", str(tiny_zoo), "--options", "options.json"]
        result = runner.invoke(app, ["figures", *args, "--out", "out", "--no-png"])
        again = runner.invoke(app, ["benchmark", *args, "--out", "bench"])
    return root, result, again


def test_figures_writes_every_figure_and_the_table(figures_run):
    root, result, _ = figures_run
    assert result.exit_code == 0, result.output
    names = {p.stem for p in (root / "out").glob("*.html")}
    assert set(FIGURES) <= names and "figure09_attention_view" in names
    assert "cdn" not in (root / "out" / "figure09_attention_view.html").read_text().lower()
    rows = json.loads((root / "out" / "results.json").read_text())
    names = [r["name"] for r in rows]
    assert names[:2] == ["baseline", "artefacts"] and {"steering: subtracted", "steering: random"} <= set(names)
    assert {"artefacts: block-update", "artefacts: final-loss", "artefacts: base-text-loss"} <= set(names)
    assert {r["strategy"] for r in rows} >= {"noise", "learning-speed", "concepts", "decision-speed", "attention",
                                             "weight-noise", "defection-probe", "train-against"}
    assert (root / "out" / "results.md").read_text().startswith("| strategy | pair accuracy |")


def test_benchmark_reuses_finished_runs_and_writes_the_same_table(figures_run):
    root, result, again = figures_run
    assert again.exit_code == 0, again.output
    assert (root / "bench" / "results.md").read_text() == (root / "out" / "results.md").read_text()
    bars = [line for line in again.output.splitlines() if "scoring models" in line]
    assert bars and all("0/0" in line for line in bars)  # nothing left to score: every run reused


def test_training_figures_have_the_right_traces_and_axes(figures_run):
    root, _, _ = figures_run
    [ls_run] = list((root / "runs").glob("learning-speed-*"))
    [ta_run] = list((root / "runs").glob("train-against-noise-*"))
    fig6 = training.figure6(ls_run)
    assert fig6.layout.yaxis.title.text == "held-out P(misaligned action)"
    assert {t.name for t in fig6.data if t.line.width == 3} == {"aligned models (mean of 2)", "faker models (mean of 2)"}
    fig12 = training.figure12(ls_run)
    assert "POST HOC" in fig12.layout.title.text and len(fig12.data) == 2
    assert all(0.0 <= y <= 1.0 for t in fig12.data for y in t.y)
    fig1 = training.figure1(ta_run)
    assert len(fig1.data) == 2 and fig1.layout.yaxis.title.text.startswith("P(aligned action)")  # fakers only
    fig10 = training.figure10(ta_run)
    assert len(fig10.data) == 8  # 4 models x 2 panels


def test_figures_rejects_a_missing_zoo_and_bad_options(tiny_zoo, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["figures", "--zoo", str(tmp_path / "nope"), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert not (tmp_path / "o").exists()
    for bad, message in (('{"nosie": {}}', "unknown strategy 'nosie'"), ("[1, 2", "bad.json: not valid JSON"),
                         ('{"noise": {"draws": 3}}', "bad options")):
        (tmp_path / "bad.json").write_text(bad)
        result = runner.invoke(app, ["benchmark", "--zoo", str(tiny_zoo), "--options", str(tmp_path / "bad.json"),
                                     "--out", str(tmp_path / "o")])
        assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output, result.output
    assert not (tmp_path / "o").exists() and not (tmp_path / "runs").exists()  # nothing ran, nothing half-written


def test_base_scores_are_kept_per_zoo_not_per_base(tiny_zoo, tmp_path, monkeypatch):
    """Two zoos on one base (two recipes of a seed) have different benchmarks: the base's scores of one
    must not be read as the other's (the folder used to be named by the base's sha256 alone)."""
    import shutil

    from poser_interp.data.poser import load_benchmark
    from poser_interp.pipeline.folder import RunFolder
    from poser_interp.pipeline.reproduce import base_scores
    from poser_interp.strategies.base import get_detector
    from poser_interp.zoo.load import load_base
    from poser_interp.zoo.manifest import MANIFEST, ZooManifest

    other = tmp_path / "other_zoo"
    shutil.copytree(tiny_zoo, other)
    file = sorted((other / "data" / "benchmark").glob("*.json"))[0]
    prompts = json.loads(file.read_text())
    file.write_text(json.dumps(prompts[: len(prompts) // 2]))  # another benchmark, the same base
    manifest = json.loads((other / MANIFEST).read_text())
    (other / MANIFEST).write_text(json.dumps(manifest | {"note": "another recipe"}))
    monkeypatch.chdir(tmp_path)
    first = base_scores("decision-speed", ZooManifest.load(tiny_zoo))
    second = base_scores("decision-speed", ZooManifest.load(other))
    assert first != second
    assert base_scores("decision-speed", ZooManifest.load(other)) == second  # reused
    rel = str(file.relative_to(other))
    oracle = get_detector("decision-speed").score(load_base(other), load_benchmark(file))
    sha, stored = RunFolder(second).read_scores()[("base", rel)]
    assert stored.to_json() == oracle.to_json()
    assert RunFolder(first).read_scores()[("base", rel)][0] != sha
