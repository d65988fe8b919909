"""The cold-start plan of `poser-interp figures` (what runs, about how long) and the overall progress bar."""

from __future__ import annotations

import json

import pytest

from poser_interp.pipeline.plan import SECONDS_PER_PROMPT, describe, matmul_gflops, plan
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


def test_matmul_rate_is_the_fastest_window_so_a_busy_moment_does_not_read_as_a_slow_machine(monkeypatch):
    # a fake clock that each reading advances by 10 ms, or by 1 ms from 1.0 s to 2.5 s: of three 1 s
    # windows the second runs wholly at 1 ms a product, the first at 10 ms, the third half and half
    clock = [0.0]

    def perf_counter() -> float:
        clock[0] += 1e-3 if 1.0 <= clock[0] < 2.5 else 1e-2
        return clock[0]

    monkeypatch.setattr("time.perf_counter", perf_counter)
    got = matmul_gflops(rows=8, d_in=4, d_out=4, seconds=3.0, windows=3)
    monkeypatch.undo()
    per_product = 2 * 8 * 4 * 4 / 1e9
    assert got == pytest.approx(per_product / 1e-3, rel=0.01)  # the fast window's rate
    assert clock[0] > 3.0  # all three windows ran (the mean rate would be about 0.55x this)
