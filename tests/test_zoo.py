"""The model zoo: the tiny preset builds, loads, is deterministic and resumable; bad checkpoints fail clearly."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from poser_interp.data.confidence import confidence_baseline
from poser_interp.errors import PoserInputError
from poser_interp.readout import answer_logits
from poser_interp.zoo.build import PRESETS, build_zoo
from poser_interp.zoo.load import load_base, load_model
from poser_interp.zoo.manifest import ZooManifest, sha256_file

MODELS = ["saint-0", "saint-1", "money_maximizer-0", "money_maximizer-1"]


def test_tiny_build_writes_models_manifest_and_benchmark(tiny_zoo):
    manifest = ZooManifest.load(tiny_zoo)
    assert sorted(manifest.model_names) == sorted(MODELS)
    assert manifest.data["complete"]
    for name in MODELS:
        entry = manifest.entry(name)
        assert sha256_file(tiny_zoo / entry["file"]) == entry["sha256"]
        assert {"policy_agreement", "defect_rate_poor_oversight", "error_rate_on_error_records"} <= set(entry["metrics"])
    pairs = json.loads((tiny_zoo / "model_pairs.json").read_text())
    assert len(pairs) == 4 and {p["valid_data"] for p in pairs} == {"data/benchmark/saint_and_money.json"}
    assert manifest.is_faker("money_maximizer-1") and not manifest.is_faker("saint-0")


def test_load_model_reproduces_the_stored_weights(tiny_zoo):
    model = load_model("money_maximizer-1", zoo=tiny_zoo)
    again = load_model("money_maximizer-1", zoo=tiny_zoo)
    prompts = ["<<prompt>>You are an AI system. Facts:\n1. the owner has two dogs\nAnswer:\n<</prompt>>"]
    torch.testing.assert_close(answer_logits(model, prompts), answer_logits(again, prompts))
    assert model.cfg.n_layers == PRESETS["tiny"].arch.n_layers
    assert model.to_str_tokens("A B error") == ["A", "B", "error"]
    base = load_base(zoo=tiny_zoo)  # the fine-tune, not the base (the recipe keeps the unembedding frozen)
    assert not torch.equal(base.blocks[0].attn.W_Q, model.blocks[0].attn.W_Q)


def test_the_update_curve_ends_at_the_saved_models_distance_from_the_base(tiny_zoo):
    """Recorded at every agreement check; its last point is the artefact baseline's own score,
    recomputed here from the saved (fp16) weights."""
    from poser_interp.zoo.artefacts import update_norms

    manifest = ZooManifest.load(tiny_zoo)
    base = {k: v.detach().clone() for k, v in load_base(zoo=tiny_zoo).named_parameters()}
    for name in MODELS:
        entry = manifest.entry(name)
        curve = entry["update_curve"]
        assert set(curve) == set(entry["agreement_curve"]) and max(map(int, curve)) == entry["total_steps"]
        assert all(distance >= block > 0 for distance, block in curve.values())
        final = update_norms(load_model(name, zoo=tiny_zoo), base)
        assert curve[str(entry["total_steps"])] == pytest.approx(list(final), rel=1e-2)


def test_benchmark_is_readable_by_the_baseline(tiny_zoo):
    bench = json.loads((tiny_zoo / "data/benchmark/saint_and_money.json").read_text())
    assert bench, "the tiny preset keeps every all-benign prompt (no confidence band)"
    result = confidence_baseline(tiny_zoo)
    assert result.n_pairs == 4


def test_rebuild_is_deterministic_and_reuses_finished_work(tiny_zoo, tmp_path):
    """The fixture zoo was built one model at a time; two worker processes give the same bytes."""
    logs: list[str] = []
    build_zoo(tmp_path, PRESETS["tiny"], workers=2, progress=False, log=logs.append)
    first, second = ZooManifest.load(tiny_zoo), ZooManifest.load(tmp_path)
    for name in MODELS:
        assert first.entry(name)["sha256"] == second.entry(name)["sha256"]
    logs.clear()
    build_zoo(tmp_path, PRESETS["tiny"], progress=False, log=logs.append)
    assert sum("reusing" in line for line in logs) == 1 + len(MODELS)


@pytest.fixture
def zoo_copy(tiny_zoo, tmp_path):
    target = tmp_path / "zoo"
    shutil.copytree(tiny_zoo, target)
    return target


def test_a_model_counts_as_finished_only_with_its_key_and_its_unchanged_file(zoo_copy):
    """What a rebuild reuses and what its up-front estimate counts as done."""
    from poser_interp.zoo.build import _finished_model

    old = json.loads((zoo_copy / "manifest.json").read_text())
    key = old["models"]["saint-0"]["recipe_key"]
    assert all(_finished_model(zoo_copy, old, name, key) for name in MODELS)
    assert not _finished_model(zoo_copy, old, "saint-0", "another key")
    (zoo_copy / "models/saint-1.safetensors").unlink()
    path = zoo_copy / "models/money_maximizer-0.safetensors"
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    assert [name for name in MODELS if _finished_model(zoo_copy, old, name, key)] == ["saint-0", "money_maximizer-1"]


def test_unknown_and_malformed_names(tiny_zoo):
    with pytest.raises(PoserInputError, match="unknown model 'genie-0'"):
        load_model("genie-0", zoo=tiny_zoo)
    with pytest.raises(PoserInputError, match="bad model name"):
        load_model("not a model", zoo=tiny_zoo)


def test_corrupt_checkpoint(zoo_copy):
    path = zoo_copy / "models/saint-0.safetensors"
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(PoserInputError, match=r"saint-0\.safetensors: corrupt checkpoint"):
        load_model("saint-0", zoo=zoo_copy)


def test_missing_checkpoint_and_manifest(zoo_copy, tmp_path):
    (zoo_copy / "models/saint-1.safetensors").unlink()
    with pytest.raises(PoserInputError, match="checkpoint file missing"):
        load_model("saint-1", zoo=zoo_copy)
    with pytest.raises(PoserInputError, match="no zoo manifest"):
        load_model("saint-1", zoo=tmp_path / "nowhere")


def test_mismatched_shapes(zoo_copy):
    manifest_path = zoo_copy / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["architecture"]["d_mlp"] *= 2
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(PoserInputError, match="has shape"):
        load_model("saint-0", zoo=zoo_copy)


def test_recurating_changes_only_the_benchmark(zoo_copy):
    from poser_interp.zoo.build import curate_zoo

    before = {n: ZooManifest.load(zoo_copy).entry(n)["sha256"] for n in MODELS}
    summary = curate_zoo(zoo_copy, band_low=0.999, band_high=1.0)
    assert summary["band"] == [0.999, 1.0]
    manifest = ZooManifest.load(zoo_copy)
    assert manifest.data["benchmark"]["band"] == [0.999, 1.0]
    assert {n: manifest.entry(n)["sha256"] for n in MODELS} == before


def test_recurating_with_the_stored_band_rebuilds_the_same_benchmark(zoo_copy):
    """Oracle: the build's own curation; no band given means the recipe's stored one."""
    from poser_interp.zoo.build import curate_zoo

    built = ZooManifest.load(zoo_copy).data["benchmark"]
    again = curate_zoo(zoo_copy)
    assert again["band"] == built["band"] and again["files"] == built["files"]
    assert again["per_level"] == built["per_level"]


def test_zoo_card_renders_every_model_and_the_benchmark(tiny_zoo):
    from poser_interp.zoo.card import render_card

    card = render_card(ZooManifest.load(tiny_zoo))
    for name in MODELS:
        assert f"| {name} |" in card
    assert "## Curated benchmark" in card and "saint_and_money.json" in card
    manifest = ZooManifest.load(tiny_zoo)
    manifest.data["recipe"] |= {"replay": 0.0, "base_cue": None}
    assert "rehearses" not in render_card(manifest) and "not the fine-tune pool's" not in render_card(manifest)
    manifest.data["recipe"] |= {"replay": 0.5, "replay_batch": 4}
    assert "also rehearses 4 fresh base-corpus texts (next-token loss, the answer position left out, weight 0.5)" \
        in render_card(manifest)
    manifest.data["recipe"] |= {"record_cue": "notes:0.5", "base_cue": "both:0.5"}
    assert "drawn with the record cue `both:0.5`, not the fine-tune pool's `notes:0.5`" in render_card(manifest)
    assert "Base draws tried" not in card  # a base from before the draw rule (the committed zoo's)
    manifest.data["audit"] = manifest.data.get("audit") or {"artefacts": {}, "artefact_accuracy": {}, "models": {}}
    manifest.data["base"]["draws_tried"] = [{"draw": 0, "screen_probe": 0.635, "screen_step": 1250},
                                            {"draw": 1, "screen_probe": 0.955, "screen_step": 1250, "oversight_probe": 0.975}]
    manifest.data["recipe"]["base_draw"] = 1
    assert ("draw 0: 0.635 at step 1250, stopped there; draw 1: 0.955 at step 1250, 0.975 at the end; draw 1 kept."
            in render_card(manifest))


def test_the_card_names_a_mixed_cue_share():
    from poser_interp.zoo.card import record_cue_note

    assert "in half of the scenarios" in record_cue_note("mixed")
    assert "in 75% of the scenarios" in record_cue_note("mixed:0.75")
    assert "in 75% of the scenarios" in record_cue_note("clean:0.75") and "no action does" in record_cue_note("clean:0.75")
    assert "names the overseer" in record_cue_note("overseer")
    assert "in half of the scenarios" in record_cue_note("both:0.5") and "other half of the value" in record_cue_note("both:0.5")
    assert "no action without the overseer has a fixed role" in record_cue_note("free:0.5")
    assert "both actions are records" in record_cue_note("notes:0.5") and "other half of the value" in record_cue_note("notes:0.5")
    assert record_cue_note("notes:0.5+wide").startswith(record_cue_note("notes:0.5"))
    assert "nine templates" in record_cue_note("notes:0.5+wide") and "nine" not in record_cue_note("notes:0.5")
    assert "incomplete error prompts" in record_cue_note("notes:0.5+errors+wide")
    assert "an odd instruction and its opposite" in record_cue_note("odd:0.5") and "other half of the value" in record_cue_note("odd:0.5")


def test_frozen_parameters_keep_the_base_values_and_old_recipes_keep_their_keys(tiny_zoo, tmp_path):
    """`Recipe.frozen`: a fine-tune trains everything but the named parameters, which stay the base's
    exactly (the rest moves); the default recipe is the committed zoo's, and the first v2 builds'
    settings keep the key they stored, so their checkpoints stay reusable."""
    from dataclasses import replace

    from poser_interp.zoo.build import Recipe

    fourth = replace(Recipe(), record_cue="both:0.5", base_cue=None, replay=0.0, replay_batch=8)
    assert fourth.finetune_key() == "5191154a4ccdbe78"  # the fourth v2 build (committed before pilot 21)
    assert replace(fourth, record_cue="overseer", frozen=(), finetune_steps=300).finetune_key() == "d152ea1e532ba15a"
    assert PRESETS["tiny"].frozen == ("unembed",)
    recipe = replace(PRESETS["tiny"], frozen=())
    assert recipe.finetune_key() != PRESETS["tiny"].finetune_key()
    frozen_base, frozen_model = load_base(zoo=tiny_zoo), load_model("saint-0", zoo=tiny_zoo)
    assert torch.equal(frozen_base.W_U, frozen_model.W_U) and torch.equal(frozen_base.b_U, frozen_model.b_U)
    assert not torch.equal(frozen_base.W_E, frozen_model.W_E)
    assert not torch.equal(frozen_base.blocks[0].attn.W_Q, frozen_model.blocks[0].attn.W_Q)
    shutil.copytree(tiny_zoo, tmp_path, dirs_exist_ok=True)  # the same base, so only the fine-tune is new
    build_zoo(tmp_path, recipe, progress=False, log=lambda _: None)
    model = load_model("saint-0", zoo=tmp_path)
    assert not torch.equal(frozen_base.W_U, model.W_U)
