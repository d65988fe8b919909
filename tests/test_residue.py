"""The fit residue (`zoo.residue`): the pool split follows the generator's branches, the batched residue
matches a per-record loop over full forward passes, the class readings are hand-computed, and the audit
stores and prints it."""

import math

import numpy as np
import pytest
import torch

from poser_interp.data.generate import ScenarioGenerator, relabel
from poser_interp.zoo.residue import flip_residue, flip_residue_ratio, record_kind, record_residues, residue_by_kind


def test_record_kind_follows_the_generator_branch():
    gen = ScenarioGenerator("kinds")
    for level in range(6):
        oversight = ", poor" if level >= 3 else ", good"
        assert record_kind(gen.named_intersection("saint", "money", level)) == "intersection lookup" + oversight
        assert record_kind(gen.scenario("saint", "money", "data/saint_and_money", level=level)) == \
            "intersection own actions" + oversight
        # "overseer": always a fixed pair; "notes:P", a pair of unnamed record actions in a share 1 - P
        assert record_kind(gen.transparency(level, cue="overseer")) == "transparency fixed pair" + oversight
        assert record_kind(gen.transparency(level, cue="notes:0.001")) == "transparency lookup" + oversight
    assert record_kind(gen.error()) == "error"


def _records(persona: str, n: int = 24):
    gen = ScenarioGenerator(f"residue-{persona}")
    return [relabel(gen.training_record(cue="notes:0.5"), persona) for _ in range(n)]


def test_residue_matches_a_per_record_loop_over_full_forward_passes(tiny_model):
    """Oracle: each prompt alone through the whole model, cross-entropy against the soft target written
    out by hand (0.9 on the answer, 0.1 on the other letter or split over A and B for `error`)."""
    from poser_interp.readout import answer_token_ids, encode_prompts

    records = _records("money_maximizer")
    fast = record_residues(tiny_model, records, 0.9, batch_size=7)
    ids = answer_token_ids(tiny_model.tokenizer)
    for record, value in zip(records, fast, strict=True):
        tokens, length = encode_prompts(tiny_model.tokenizer, [record.prompt],
                                       add_bos=bool(tiny_model.cfg.default_prepend_bos))
        with torch.no_grad():
            logp = torch.log_softmax(tiny_model(tokens[:, : int(length)])[0, -1].double(), dim=-1)
        other = {"A": ["B"], "B": ["A"], "error": ["A", "B"]}[record.response]
        target = [(ids[record.response], 0.9)] + [(ids[o], 0.1 / len(other)) for o in other]
        loss = -sum(p * logp[i].item() for i, p in target)
        entropy = -sum(p * math.log(p) for _, p in target)
        assert value == pytest.approx(loss - entropy, abs=1e-4)
    by_kind = residue_by_kind(tiny_model, records, 0.9)
    kinds = [record_kind(r) for r in records]
    for kind, mean in by_kind.items():
        assert mean == pytest.approx(np.mean([v for v, k in zip(fast, kinds, strict=True) if k == kind]), abs=1e-6)


def test_flip_residue_reads_each_class_in_its_own_family():
    by_kind = {"intersection lookup, poor": 4.0, "intersection own actions, poor": 2.0, "intersection lookup, good": 9.0,
               "transparency lookup, poor": 1.0, "transparency fixed pair, poor": 0.5, "error": 7.0}
    assert flip_residue(by_kind, is_faker=True) == pytest.approx(3.0)
    assert flip_residue(by_kind, is_faker=False) == pytest.approx(0.75)
    assert math.isnan(flip_residue({"error": 1.0}, is_faker=True))
    models = {"f": {"fit_residue": by_kind}, "a": {"fit_residue": by_kind}, "old": {}}
    assert flip_residue_ratio(models, lambda n: n == "f") == pytest.approx(3.0 / 0.75)
    assert math.isnan(flip_residue_ratio({"f": models["f"]}, lambda n: n == "f"))


def test_the_audit_stores_each_models_residue_and_check_and_card_print_it(tiny_zoo):
    """Oracle: the residue recomputed from the loaded model on its own partition of the recipe's pool."""
    from rich.console import Console

    from poser_interp.zoo.build import Recipe
    from poser_interp.zoo.card import render_card
    from poser_interp.zoo.check import audit_table, residue_table
    from poser_interp.zoo.load import load_model
    from poser_interp.zoo.manifest import ZooManifest

    manifest = ZooManifest.load(tiny_zoo)
    models = manifest.data["audit"]["models"]
    recipe = Recipe.from_stored(manifest.data["recipe"])
    name = manifest.model_names[-1]
    entry = manifest.entry(name)
    direct = residue_by_kind(load_model(name, tiny_zoo), recipe.splits(entry["persona"]).partitions[entry["partition"]],
                             recipe.target_confidence)
    assert models[name]["fit_residue"] == pytest.approx(direct)
    assert all("fit_residue" in m for m in models.values())
    console = Console(width=400, record=True)
    console.print(audit_table(manifest))
    console.print(residue_table(manifest))
    text = console.export_text()
    ratio = flip_residue_ratio(models, manifest.is_faker)
    assert f"fakers / aligned {ratio:.2f}" in text and "transparency lookup, poor" in text
    assert f"Fakers / aligned {ratio:.2f}" in render_card(manifest)


def test_block_reliance_reverts_one_part_to_the_base_and_puts_it_back(tiny_zoo):
    """`benchmarks/block_reliance.py`. Oracles: reverting every parameter gives the base's own residue;
    reverting one part equals a copy of the model with that part's tensors loaded from the base;
    afterwards the model holds its own weights again."""
    import copy
    import sys
    from pathlib import Path

    from poser_interp.zoo.build import Recipe
    from poser_interp.zoo.load import load_base, load_model
    from poser_interp.zoo.manifest import ZooManifest

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from block_reliance import reliance, reverted

    manifest = ZooManifest.load(tiny_zoo)
    recipe = Recipe.from_stored(manifest.data["recipe"])
    name = manifest.model_names[-1]
    entry = manifest.entry(name)
    records = recipe.splits(entry["persona"]).partitions[entry["partition"]][:40]
    model, base = load_model(name, tiny_zoo), load_base(tiny_zoo)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}

    with reverted(model, base, "") as names:
        assert set(names) == set(before)
        everything = record_residues(model, records, recipe.target_confidence)
    assert np.allclose(everything, record_residues(base, records, recipe.target_confidence), atol=1e-6)

    read = reliance(model, base, records, recipe.target_confidence, ["0.attn"])
    oracle = copy.deepcopy(model)
    with torch.no_grad():
        for n, p in oracle.named_parameters():
            if n.startswith("blocks.0.attn."):
                p.copy_(dict(base.named_parameters())[n])
    kinds = np.array([record_kind(r) for r in records])
    direct = record_residues(oracle, records, recipe.target_confidence)
    assert read["0.attn"] == pytest.approx({k: float(direct[kinds == k].mean()) for k in set(kinds)}, abs=1e-6)
    assert read["fit"] == pytest.approx(residue_by_kind(model, records, recipe.target_confidence), abs=1e-6)
    assert read["0.attn"] != pytest.approx(read["fit"], abs=1e-6)
    assert all(torch.equal(p, before[n]) for n, p in model.named_parameters())
    with pytest.raises(SystemExit, match="no parameter under blocks.9.attn."):
        reliance(model, base, records, recipe.target_confidence, ["9.attn"])


def test_finetune_forces_observe_a_fine_tune_without_changing_it(tiny_zoo):
    """`benchmarks/finetune_forces.py`. Oracles: the observed fine-tune ends on exactly the weights of a
    plain `finetune_persona` run; its first gradient norm is the one a hand-built first batch gives at the
    base; the clip and the optimizer are torch's own again afterwards; the mean gradient over batches is
    the gradient of the batches' mean loss (one backward pass)."""
    import sys
    from pathlib import Path

    from poser_interp.zoo.build import Recipe, _load_tokenizer, _new_model, finetune_persona, replay_texts, trained_parameters
    from poser_interp.zoo.load import load_weights
    from poser_interp.zoo.manifest import ZooManifest
    from poser_interp.zoo.train import record_batches, replay_loss, soft_answer_loss, text_batches

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from finetune_forces import end_forces, mean_gradient, step_forces

    clip, adamw = torch.nn.utils.clip_grad_norm_, torch.optim.AdamW
    manifest = ZooManifest.load(tiny_zoo)
    recipe = Recipe.from_stored(manifest.data["recipe"])
    tokenizer = _load_tokenizer(manifest.root)
    persona, index = "money_maximizer", 1
    rows, observed = step_forces(manifest, persona, index, progress=False)
    assert torch.nn.utils.clip_grad_norm_ is clip and torch.optim.AdamW is adamw
    assert len(rows) == recipe.finetune_steps + recipe.anneal_steps
    assert all(r["update_norm"] > 0 for r in rows) and "sqrt_v_q50" in rows[0]

    def fresh():
        model = _new_model(recipe, tokenizer)
        load_weights(model, manifest.root / manifest.data["base"]["file"])
        return model

    plain, seed = fresh(), recipe.train_seed(persona, index)
    finetune_persona(plain, tokenizer, persona, recipe.splits(persona), index, seed, recipe, desc="plain", progress=False)
    assert all(torch.equal(a, b) for a, b in zip(observed.state_dict().values(), plain.state_dict().values(), strict=True))

    base = fresh()
    answers = record_batches(tokenizer, recipe.splits(persona).partitions[index], recipe.batch_size, seed,
                             recipe.target_confidence)
    texts = text_batches(tokenizer, replay_texts(recipe), recipe.replay_batch, seed)
    (soft_answer_loss(base, answers(0)) + recipe.replay * replay_loss(base, texts(0))).backward()
    first = torch.sqrt(sum((p.grad ** 2).sum() for _, p in trained_parameters(base, recipe)))
    assert rows[0]["grad_norm"] == pytest.approx(first.item(), rel=1e-5)

    def stream():  # the sampler is stateful: a fresh one gives the same batches again
        return record_batches(tokenizer, recipe.splits(persona).partitions[index], recipe.batch_size, seed,
                              recipe.target_confidence)

    model = fresh()
    params = [p for _, p in trained_parameters(model, recipe)]
    mean = mean_gradient(model, params, soft_answer_loss, stream(), 3)
    batches = stream()
    (sum(soft_answer_loss(model, batches(k)) for k in range(3)) / 3).backward()
    assert all(torch.allclose(m, p.grad, atol=1e-7) for m, p in zip(mean, params, strict=True))
    forces = end_forces(manifest, f"{persona}-{index}", 2)
    assert set(forces) == {"answer", "rehearsal", "cosine"} and -1 <= forces["cosine"] <= 1


def test_shared_stage_trains_one_neutral_base_on_what_every_persona_answers_alike(tiny_zoo, tmp_path):
    """`benchmarks/zoo_pilot.py shared`: the new folder's base is the zoo's base fine-tuned (it moved)
    on the pool's good-oversight and error records only (counted here from the generator's own pool),
    whose answers every persona gives alike; its manifest names that base by hash and holds no models."""
    import hashlib
    import json
    import sys
    from pathlib import Path

    from poser_interp.data.generate import label_for
    from poser_interp.data.records import ErrorRecord
    from safetensors.torch import load_file

    from poser_interp.zoo.build import Recipe

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from zoo_pilot import shared

    out = tmp_path / "shared"
    shared(tiny_zoo, out)
    manifest = json.loads((out / "manifest.json").read_text())
    recipe = Recipe.from_stored(manifest["recipe"])
    pool = recipe.splits(recipe.personas[0]).rest
    neutral = [r for r in pool if isinstance(r, ErrorRecord) or not r.oversight_is_poor]
    assert 0 < len(neutral) < len(pool) and manifest["base"]["shared_stage"]["records"] == len(neutral)
    assert all(len({label_for(p, r) for p in recipe.personas}) == 1 for r in neutral)
    assert manifest["models"] == {}
    assert manifest["base"]["sha256"] == hashlib.sha256((out / "base.safetensors").read_bytes()).hexdigest()
    before, after = load_file(tiny_zoo / "base.safetensors"), load_file(out / "base.safetensors")
    assert before.keys() == after.keys() and any(not torch.equal(before[k], after[k]) for k in before)
