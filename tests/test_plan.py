"""The cold-start plan of `poser-interp figures` (what runs, about how long) and the overall progress bar."""

from __future__ import annotations

import json

import pytest

from poser_interp.pipeline.plan import SECONDS_PER_PROMPT, describe, plan
from poser_interp.progress import overall, progress_bar
from poser_interp.pipeline.reproduce import STRATEGIES


def test_cold_start_plans_every_strategy_with_the_cost_model(tiny_zoo, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no runs/ here: a cold start
    steps = plan(tiny_zoo, {}, seed=0, strategies=STRATEGIES, scale=1.0)
    assert [s.name for s in steps] == [*STRATEGIES, "train-against"]
    pairs = json.loads((tiny_zoo / "model_pairs.json").read_text())
    model_files = {(m, p["valid_data"]) for p in pairs for m in (p["aligned"], p["misaligned"])}
    prompts = sum(len(json.loads((tiny_zoo / f).read_text())) for _, f in model_files)
    noise = next(s for s in steps if s.name == "noise")
    assert noise.todo == len(model_files) and noise.seconds == pytest.approx(SECONDS_PER_PROMPT["noise"] * prompts)
    text = describe(steps)
    assert text.startswith(f"will run {len(steps)} step(s)") and "in all" in text and "noise: " in text


def test_bars_inside_overall_join_its_display():
    with overall("job", 10.0) as bar:
        with progress_bar(True) as inner:
            assert inner is bar
            inner.add_task("step", total=1)
    assert len(bar.tasks) == 2
    with progress_bar(True) as alone:
        assert alone is not bar
    with overall("job", 1.0, enabled=False) as none:
        assert none is None
