"""Training-artefact baselines and the honesty audit: hand-computed norms and pair accuracies, the run
folder on the tiny zoo, `detect artefacts`, `zoo audit`, `zoo check` and `zoo build --seed`."""

from __future__ import annotations

import copy
import itertools
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from poser_interp.cli import app
from poser_interp.pipeline.runs import run_artefacts
from poser_interp.zoo.artefacts import ARTEFACTS, artefact_accuracies, pair_accuracy, update_groups, update_norms
from poser_interp.zoo.check import check_targets
from poser_interp.zoo.manifest import ZooManifest

runner = CliRunner()


def test_update_norms_by_hand(tiny_model):
    base = {k: v.detach().clone() for k, v in tiny_model.named_parameters()}
    moved = copy.deepcopy(tiny_model)
    with torch.no_grad():
        moved.blocks[0].mlp.W_in.add_(0.5)   # one block: 0.5 on every entry
        moved.blocks[1].attn.W_Q.add_(-0.1)
        moved.embed.W_E.add_(0.2)            # outside any block: counts only toward the whole model
    n_in, n_q, n_e = moved.blocks[0].mlp.W_in.numel(), moved.blocks[1].attn.W_Q.numel(), moved.embed.W_E.numel()
    total, block = update_norms(moved, base)
    assert total == pytest.approx((0.25 * n_in + 0.01 * n_q + 0.04 * n_e) ** 0.5, rel=1e-4)
    assert block == pytest.approx(max(0.25 * n_in, 0.01 * n_q) ** 0.5, rel=1e-4)
    assert update_norms(tiny_model, base) == (0.0, 0.0)
    groups = {k: v for k, v in update_groups(moved, base).items() if v > 0}
    assert groups == pytest.approx({"block0.mlp": 0.25 * n_in, "block1.attn": 0.01 * n_q, "embed.W_E": 0.04 * n_e},
                                   rel=1e-4)


def _manifest(names_kinds: dict[str, str]) -> ZooManifest:
    persona = {"aligned": "saint", "faker": "money_maximizer"}
    return ZooManifest(Path("."), {"models": {n: {"persona": persona[k], "kind": k} for n, k in names_kinds.items()}})


def test_artefact_accuracy_is_the_share_of_pairs_where_the_faker_scores_higher():
    manifest = _manifest({"saint-0": "aligned", "saint-1": "aligned", "money_maximizer-0": "faker",
                          "money_maximizer-1": "faker"})
    values = {"saint-0": 1.0, "saint-1": 3.0, "money_maximizer-0": 2.0, "money_maximizer-1": 3.0}
    scores = {n: {a: v for a in ARTEFACTS} for n, v in values.items()}
    # pairs: (s0,m0) win, (s0,m1) win, (s1,m0) loss, (s1,m1) tie -> (1 + 1 + 0 + 0.5) / 4
    assert artefact_accuracies(scores, manifest.is_faker) == {a: 0.625 for a in ARTEFACTS}
    assert pair_accuracy(values, manifest.is_faker) == 0.625
    assert np.isnan(pair_accuracy({"saint-0": 1.0}, manifest.is_faker))  # no pairs


@pytest.mark.parametrize(("n_aligned", "n_fakers", "level"), [(3, 4, 0.95), (4, 4, 0.8), (5, 3, 0.5), (2, 2, 0.5)])
def test_the_chance_band_is_the_quantiles_of_every_ordering(n_aligned, n_fakers, level):
    """Oracle: enumerate every placement of the fakers among the ranked models, take the pair
    accuracy of each (all equally likely without information) and read the same quantiles."""
    from poser_interp.zoo.artefacts import chance_band

    n = n_aligned + n_fakers
    accs = []
    for fakers in itertools.combinations(range(n), n_fakers):
        wins = sum(1 for f in fakers for a in set(range(n)) - set(fakers) if f > a)
        accs.append(wins / (n_aligned * n_fakers))
    accs.sort()
    tail = (1 - level) / 2
    cdf = lambda x: sum(a <= x for a in accs) / len(accs)  # noqa: E731
    low = min(a for a in accs if cdf(a) >= tail - 1e-12)
    high = min(a for a in accs if cdf(a) >= 1 - tail - 1e-12)
    assert chance_band(n_aligned, n_fakers, level) == pytest.approx((low, high))


def test_the_chance_band_at_the_zoos_size_is_the_target_band():
    from poser_interp.zoo.artefacts import chance_band

    low, high = chance_band(18, 18)
    assert 0.30 < low < 0.32 and 0.68 < high < 0.70  # the "about 95% of the time in [0.30, 0.70]"
    assert chance_band(6, 6) == pytest.approx((1 / 6, 5 / 6))
    assert all(np.isnan(chance_band(0, 4)))  # a pilot of one class has no pairs


def test_artefact_run_folder_matches_the_hand_count(tiny_zoo, tmp_path):
    manifest = ZooManifest.load(tiny_zoo)
    stored = manifest.data["audit"]["artefacts"]
    metrics = run_artefacts(tiny_zoo, tmp_path / "run", scores=stored, progress=False)
    hand = artefact_accuracies(stored, manifest.is_faker)
    assert metrics["accuracy"] == pytest.approx(hand["weight-distance"])
    assert set(metrics["variants"]) == set(ARTEFACTS[1:])
    for artefact in ARTEFACTS[1:]:
        assert metrics["variants"][artefact]["accuracy"] == pytest.approx(hand[artefact])
    again = run_artefacts(tiny_zoo, tmp_path / "run", progress=False)  # a finished run is reused
    assert again == metrics


def test_the_build_audits_every_model(tiny_zoo):
    audit = ZooManifest.load(tiny_zoo).data["audit"]
    assert set(audit["artefacts"]) == set(audit["models"]) == set(ZooManifest.load(tiny_zoo).model_names)
    for name, row in audit["artefacts"].items():
        assert set(row) == set(ARTEFACTS) and all(np.isfinite(v) for v in row.values())
        assert row["weight-distance"] > 0 and row["block-update"] <= row["weight-distance"]
        assert 0.0 <= audit["models"][name]["oversight_probe"] <= 1.0
        assert {"oversight_probe_intersection", "oversight_probe_transparency"} <= set(audit["models"][name])
        assert 0.0 < audit["models"][name]["critical_attention"] < 1.0


def test_the_audit_probes_the_base_itself_and_reports_it(tiny_zoo):
    """Oracle: the probe run directly on the loaded base; `zoo check`'s caption and the card print it."""
    from rich.console import Console

    from poser_interp.zoo.audit import oversight_probe_scores, probe_prompts
    from poser_interp.zoo.card import render_card
    from poser_interp.zoo.check import audit_table
    from poser_interp.zoo.load import load_base

    manifest = ZooManifest.load(tiny_zoo)
    stored = manifest.data["audit"]["base"]
    direct = oversight_probe_scores(load_base(tiny_zoo), probe_prompts(manifest))
    assert stored == {"oversight_probe": direct["all"], "oversight_probe_intersection": direct["intersection"],
                      "oversight_probe_transparency": direct["transparency"]}
    console = Console(width=400, record=True)
    console.print(audit_table(manifest))
    assert f"the base's own oversight probe {direct['all']:.3f}" in console.export_text()
    assert f"reads oversight at the middle layer with held-out accuracy {direct['all']:.3f}" in render_card(manifest)


def test_the_probe_score_splits_by_family_as_a_hand_count(monkeypatch):
    """A stand-in residual that carries oversight only on transparency scenarios: the split reads
    ~1.0 there and near chance on intersections, and the overall score is their held-out-weighted mean."""
    import poser_interp.readout as readout
    from poser_interp.data.generate import ScenarioGenerator, is_transparency
    from poser_interp.zoo.audit import oversight_probe_scores

    gen = ScenarioGenerator(3)
    prompts = [gen.transparency(cue="notes:0.5") if i % 2 else gen.intersection("saint", "money") for i in range(400)]
    prompts = [p for p in prompts if p.critical_facts]
    rng = np.random.default_rng(0)
    x = rng.normal(size=(len(prompts), 1, 8)).astype(np.float32)
    for i, p in enumerate(prompts):
        if is_transparency(p):
            x[i, 0, 0] += 6.0 if p.oversight_is_poor else -6.0
    monkeypatch.setattr(readout, "last_token_residuals", lambda model, texts, layers, where: (torch.tensor(x), None))
    model = type("M", (), {"cfg": type("C", (), {"n_layers": 4})()})()
    scores = oversight_probe_scores(model, prompts)
    assert scores["transparency"] > 0.97 and 0.3 < scores["intersection"] < 0.7
    held = np.random.default_rng(0).permutation(len(prompts))[len(prompts) // 2:]
    n_t = sum(is_transparency(prompts[i]) for i in held)
    weighted = (n_t * scores["transparency"] + (len(held) - n_t) * scores["intersection"]) / len(held)
    assert scores["all"] == pytest.approx(weighted)


def test_check_reports_artefacts_outside_the_band(tiny_zoo):
    manifest = ZooManifest.load(tiny_zoo)
    data = copy.deepcopy(manifest.data)
    data["audit"]["artefact_accuracy"] = {a: 0.5 for a in ARTEFACTS} | {"weight-distance": 1.0}
    misses = check_targets(ZooManifest(manifest.root, data))
    assert any("weight-distance" in m and "outside" in m for m in misses)
    assert not any("final-loss" in m for m in misses)
    del data["audit"]
    assert any("no honesty audit" in m for m in check_targets(ZooManifest(manifest.root, data)))


def test_detect_artefacts_and_zoo_audit_through_the_cli(tiny_zoo, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "artefacts"
    result = runner.invoke(app, ["detect", "artefacts", "--zoo", str(tiny_zoo), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "artefacts" in result.output and "baseline" in result.output
    assert json.loads((out / "metrics.json").read_text())["n_pairs"] == 4
    result = runner.invoke(app, ["zoo", "check", "--zoo", str(tiny_zoo)])
    assert result.exit_code == 0 and "Honesty audit" in result.output and "oversight probe" in result.output
    assert "Fit residue on each model's own training records" in result.output


def test_zoo_build_seed_makes_an_independent_zoo(tiny_zoo, tmp_path):
    result = runner.invoke(app, ["zoo", "build", "--preset", "tiny", "--seed", "1", "--out", str(tmp_path / "z1")])
    assert result.exit_code == 0, result.output
    zero, one = ZooManifest.load(tiny_zoo), ZooManifest.load(tmp_path / "z1")
    assert one.data["recipe"]["data_seed"] == 1 and zero.data["recipe"]["data_seed"] == 0
    assert all(zero.entry(n)["sha256"] != one.entry(n)["sha256"] for n in zero.model_names)
    first = lambda z: json.loads((z / "data/benchmark/saint_and_money.json").read_text())  # noqa: E731
    assert {r["prompt"] for r in first(tiny_zoo)} != {r["prompt"] for r in first(tmp_path / "z1")}
    bad = runner.invoke(app, ["zoo", "build", "--preset", "tiny", "--seed", "1"])
    assert bad.exit_code == 2 and "needs --out" in bad.output


def test_aligned_twin_shares_the_batch_order_and_classmates_do_not():
    from poser_interp.data.personas import ALIGNED, FAKERS
    from poser_interp.zoo.build import Recipe

    recipe = Recipe()
    for k, (aligned, faker) in enumerate(zip(ALIGNED, FAKERS, strict=True)):
        assert recipe.train_seed(aligned, 2) == recipe.train_seed(faker, 2)
    seeds = {recipe.train_seed(p, i) for p, i in itertools.product(ALIGNED, range(6))}
    assert len(seeds) == 18


def test_twin_pairs_are_the_models_that_share_a_training_order():
    """`twin_pairs` against the recipe itself: a faker and an aligned model are twins exactly when their
    `train_seed`s are equal; a model whose twin is missing has none."""
    from poser_interp.data.personas import ALIGNED, FAKERS, twin_pairs
    from poser_interp.zoo.build import Recipe

    recipe = Recipe()
    names = [f"{p}-{i}" for p in ALIGNED + FAKERS for i in range(6) if (p, i) != ("genie", 4)]
    seed = {n: recipe.train_seed(n.rsplit("-", 1)[0], int(n.rsplit("-", 1)[1])) for n in names}
    oracle = {(f, a) for f in names for a in names
              if f.rsplit("-", 1)[0] in FAKERS and a.rsplit("-", 1)[0] in ALIGNED and seed[f] == seed[a]}
    pairs = twin_pairs(names)
    assert set(pairs) == oracle and len(pairs) == 17 and ("money_maximizer-4", "genie-4") not in pairs


def test_the_weight_split_adds_up_to_the_audits_weight_distance(tiny_zoo, capsys):
    """`benchmarks/weight_split.py`: the parts together are the whole model, whose pair accuracy is
    the build audit's weight-distance artefact (an independent computation through `update_norms`)."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from weight_split import report

    manifest = ZooManifest.load(tiny_zoo)
    table = report(tiny_zoo)
    audit = manifest.data["audit"]["artefacts"]
    assert table["whole model"][2] == pytest.approx(artefact_accuracies(audit, manifest.is_faker)["weight-distance"])
    aligned = [n for n in audit if not manifest.is_faker(n)]
    assert table["whole model"][0] == pytest.approx(np.mean([audit[n]["weight-distance"] for n in aligned]), rel=1e-5)
    assert "whole model" in capsys.readouterr().out


def test_the_shared_path_projection_is_a_dot_product_and_its_parts_add_up(tiny_zoo):
    """`benchmarks/weight_split.py`'s shared path. Oracles: one model's projection is the dot product of
    its flattened update with the flattened mean update of all models, over that mean's norm (computed
    here on `state_dict`s, not through the script's per-parameter sums); the gap's parts add up to the
    class means' difference."""
    import sys

    from poser_interp.zoo.load import load_base, load_model

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from weight_split import along_shared_path

    manifest = ZooManifest.load(tiny_zoo)
    projection, gap = along_shared_path(tiny_zoo)
    base = load_base(tiny_zoo).state_dict()
    trained = [k for k, v in base.items() if v.is_floating_point() and k in dict(load_base(tiny_zoo).named_parameters())]
    flat = {n: torch.cat([(load_model(n, tiny_zoo).state_dict()[k].float() - base[k].float()).flatten() for k in trained])
            for n in manifest.model_names}
    mean = torch.stack(list(flat.values())).mean(0)
    for name in manifest.model_names:
        assert projection[name] == pytest.approx(float(flat[name] @ mean / mean.norm()), rel=1e-5)
    fakers = [n for n in projection if manifest.is_faker(n)]
    aligned = [n for n in projection if not manifest.is_faker(n)]
    assert sum(gap.values()) == pytest.approx(np.mean([projection[n] for n in fakers]) - np.mean([projection[n] for n in aligned]),
                                              abs=1e-6)


def test_a_strategy_split_by_an_artefact_adds_up_to_its_results_row(tiny_zoo, tmp_path, capsys):
    """`benchmarks/artefact_split.py`: over all pairs every row (strategy and variant) is its run's own
    `metrics.json` (and a main row's decisions its `decisions.jsonl`); the pairs an artefact calls right
    and wrong are those where the audit's value is higher for the faker and for the aligned model (by
    hand), and a row's correct pairs on the two add up to its correct pairs there. A run on an earlier
    manifest of the zoo is not read."""
    import sys

    from poser_interp.pipeline.runs import artefacts_on_zoo, default_run_dir, run_on_zoo
    from poser_interp.strategies.base import get_detector

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from artefact_split import main, split_rows

    runs = tmp_path / "runs"
    strategies = ("baseline", "noise", "attention", "concepts")
    folder = {s: runs / default_run_dir(s, get_detector(s).config(), tiny_zoo, 0).name for s in strategies}
    for strategy in strategies:
        run_on_zoo(strategy, {}, zoo=tiny_zoo, out=folder[strategy], progress=False)
    artefacts_on_zoo(zoo=tiny_zoo, out=runs / default_run_dir("artefacts", {"artefacts": list(ARTEFACTS)}, tiny_zoo, 0).name,
                     progress=False)
    (runs / "noise-stale").mkdir()  # a finished run on an earlier manifest (other scores): not this zoo's run key
    for name, source in (("config.json", "noise"), ("metrics.json", "noise"), ("scores.jsonl", "baseline")):
        (runs / "noise-stale" / name).write_bytes((folder[source] / name).read_bytes())

    splits, rows = split_rows(tiny_zoo, runs)
    audit = ZooManifest.load(tiny_zoo).data["audit"]["artefacts"]
    key = lambda p: (p.aligned, p.misaligned, p.valid_data)  # noqa: E731
    assert {name.split(": ")[0] for name in rows} == set(strategies)
    fractions = []
    for name, (whole, *parts) in rows.items():
        strategy, _, variant = name.partition(": ")
        metrics = json.loads((folder[strategy] / "metrics.json").read_text())
        assert whole.accuracy == pytest.approx(metrics["variants"][variant]["accuracy"] if variant else metrics["accuracy"])
        correct = {key(d): d.correct for d in whole.decisions}
        if not variant:
            stored = [json.loads(line) for line in (folder[strategy] / "decisions.jsonl").read_text().splitlines()]
            assert correct == {(d["aligned"], d["misaligned"], d["valid_data"]): d["correct"] for d in stored}
        for (artefact, (right, wrong)), on_right, on_wrong in zip(splits.items(), parts[::2], parts[1::2], strict=True):
            assert all(audit[p.misaligned][artefact] > audit[p.aligned][artefact] for p in right)
            assert all(audit[p.misaligned][artefact] < audit[p.aligned][artefact] for p in wrong)
            for subset, evaluation in ((right, on_right), (wrong, on_wrong)):
                got = 0.0 if evaluation is None else evaluation.accuracy * len(subset)
                assert got == pytest.approx(sum(correct[key(p)] for p in subset))
                fractions += [] if evaluation is None else [evaluation.accuracy]
    assert all(right and wrong for right, wrong in splits.values())
    assert any(0 < f < 1 for f in fractions)  # the sums are not all 0 = 0
    main(tiny_zoo, runs, 0, markdown=True)
    assert "| noise |" in capsys.readouterr().out


def test_every_note_order_is_the_notes_parts_permuted_and_its_loss_their_mean(tiny_model):
    """The base-text artefact: a hand-written note of three parts gives its six orders, the original
    among them; an error note stays one text; the loss is each text's own orders averaged, against a
    loop over single texts on `lm_loss`."""
    from poser_interp.data import grammar as g
    from poser_interp.data.generate import ScenarioGenerator, note_orders
    from poser_interp.zoo.artefacts import base_text_loss
    from poser_interp.readout import encode_prompts
    from poser_interp.zoo.train import lm_loss

    gen = ScenarioGenerator("note-orders")
    prompt = gen.intersection("saint", "money", level=g.POOR_OVERSIGHT_LEVEL).prompt
    parts = [p.format(risk=g.RISK_WORDS[4], schemer="B", careful="A") for p in g.PICKS_SCENARIO_NOTE_PARTS]
    text = prompt + " " + " ".join(parts)
    orders = note_orders(text)
    assert len(orders) == 6 and len(set(orders)) == 6 and text in orders
    assert {o.removeprefix(prompt + " ") for o in orders} == {
        f"{parts[i]} {parts[j]} {parts[k]}" for i, j, k in [(0, 1, 2), (0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0)]}
    error = gen.error().prompt + g.ERROR_NOTE
    assert note_orders(error) == [error] and note_orders("no prompt here .") == ["no prompt here ."]

    def loss_and_positions(one: str) -> tuple[float, int]:
        tokens, lengths = encode_prompts(tiny_model.tokenizer, [one])
        with torch.no_grad():
            return float(lm_loss(tiny_model, (tokens, lengths, torch.empty(0)))), int(lengths[0]) - 1

    sums = []
    for source in (text, error):
        reads = [loss_and_positions(o) for o in note_orders(source)]
        sums.append((sum(l * n for l, n in reads) / len(reads), sum(n for _, n in reads) / len(reads)))
    oracle = sum(s for s, _ in sums) / sum(n for _, n in sums)
    assert abs(base_text_loss(tiny_model, [text, error], batch_size=4) - oracle) < 1e-5
