"""Rehearsal during fine-tuning (`Recipe.replay`): the loss leaves the answer position out, the texts
are fresh base-corpus texts shared by every model, and a recipe without it keeps its keys."""

from __future__ import annotations

import shutil
from dataclasses import replace

import pytest
import torch

from poser_interp.data.generate import pretraining_corpus
from poser_interp.data.grammar import PROMPT_CLOSE
from poser_interp.readout import encode_prompts
from poser_interp.zoo.build import PRESETS, Recipe, replay_texts


def test_replay_loss_is_the_mean_over_every_position_but_the_answer(tiny_model):
    """Oracle: a loop over texts and positions on the model's own forward, skipping the prediction made
    at the prompt's closing tag and the padding."""
    from poser_interp.zoo.train import lm_loss, replay_loss

    texts = pretraining_corpus(8, seed="replay-test")
    tokens, lengths = encode_prompts(tiny_model.tokenizer, texts)
    close = tiny_model.tokenizer.convert_tokens_to_ids(PROMPT_CLOSE)
    with torch.no_grad():
        logp = tiny_model(tokens).log_softmax(-1)
        got = replay_loss(tiny_model, (tokens, lengths, torch.empty(0)))
        full = lm_loss(tiny_model, (tokens, lengths, torch.empty(0)))
    terms = [-logp[b, t, tokens[b, t + 1]] for b in range(len(texts)) for t in range(int(lengths[b]) - 1)
             if tokens[b, t] != close]
    skipped = sum(int((tokens[b, : int(lengths[b]) - 1] == close).sum()) for b in range(len(texts)))
    assert skipped >= 4  # most texts are prompts followed by their note (some are lone commentary)
    torch.testing.assert_close(got, torch.stack(terms).mean(), atol=1e-5, rtol=1e-5)
    assert abs(float(got) - float(full)) > 1e-4


def test_lm_loss_in_the_bases_order_is_the_per_position_loss(tiny_model):
    """`lm_loss` keeps the flattened summation the committed base was trained with; it must still be
    the same function as the per-position form the rehearsal uses (value and gradient, to rounding)."""
    from poser_interp.zoo.train import _next_token_loss, lm_loss

    texts = pretraining_corpus(8, seed="order-test")
    tokens, lengths = encode_prompts(tiny_model.tokenizer, texts)
    grads = []
    for loss_fn in (lm_loss, lambda m, b: _next_token_loss(m, b, skip=None)):
        tiny_model.zero_grad()
        loss = loss_fn(tiny_model, (tokens, lengths, torch.empty(0)))
        loss.backward()
        grads.append((loss.detach(), [p.grad.clone() for p in tiny_model.parameters() if p.grad is not None]))
    tiny_model.zero_grad()
    torch.testing.assert_close(grads[0][0], grads[1][0])
    assert len(grads[0][1]) == len(grads[1][1]) > 0
    for a, b in zip(grads[0][1], grads[1][1], strict=True):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)


# The fourth v2 build's recipe (committed before pilot 21), which stored this fine-tune key.
FOURTH = replace(Recipe(), record_cue="both:0.5", base_cue=None, replay=0.0, replay_batch=8)


def test_a_recipe_without_replay_keeps_its_keys_and_one_with_it_trains_anew():
    with_replay = replace(FOURTH, replay=1.0)
    assert FOURTH.finetune_key() == "5191154a4ccdbe78"
    assert Recipe().finetune_key() == "caf682b66b369946"  # checkpoints/zoo (pilot 22's recipe)
    assert replace(Recipe(), replay=1.0).finetune_key() == "382d4c2573153f05"  # the fifth build (pilot 21)
    assert with_replay.finetune_key() != FOURTH.finetune_key()
    assert replace(with_replay, replay_batch=16).finetune_key() != with_replay.finetune_key()
    assert with_replay.base_key() == FOURTH.base_key() == Recipe().base_key()  # the base is reused


def test_the_replay_texts_are_fresh_and_the_same_for_every_model():
    recipe = replace(Recipe(), replay=1.0)
    texts = replay_texts(recipe, n=200)
    assert texts == replay_texts(recipe, n=200)
    artefact = set(pretraining_corpus(200, seed="0:artefact-text", cue=recipe.corpus_cue))
    base = set(pretraining_corpus(200, seed=0, cue=recipe.corpus_cue))
    assert len(set(texts) & artefact) < 5 and len(set(texts) & base) < 5
    assert replay_texts(replace(recipe, data_seed=1), n=200) != texts


def test_a_base_cue_sets_the_corpus_of_the_base_and_the_rehearsal_not_the_pool():
    """`Recipe.base_cue`: the base corpus, the rehearsal texts and the artefact's base text use it, the
    fine-tune pool keeps `record_cue`; the base key is the one of a recipe whose own cue it is (so that
    base is reused). A recipe without it keeps its fine-tune key (the pinned key above)."""
    from poser_interp.data.generate import base_cue
    from poser_interp.zoo.build import base_corpus

    plain = Recipe(record_cue="notes:0.5", base_cue=None, replay=1.0, pretrain_texts=50)
    split = replace(plain, base_cue="both:0.5")
    as_base = replace(plain, record_cue="both:0.5")
    assert split.corpus_cue == "both:0.5" and plain.corpus_cue == "notes:0.5"
    assert split.base_key() == as_base.base_key() != plain.base_key()
    assert split.finetune_key() not in (plain.finetune_key(), as_base.finetune_key())
    assert base_corpus(split) == base_corpus(as_base) == pretraining_corpus(50, seed=0, cue="both:0.5")
    assert base_corpus(plain) != base_corpus(split)
    assert replay_texts(split, n=50) == replay_texts(as_base, n=50) != replay_texts(plain, n=50)
    assert base_cue(split.to_dict()) == "both:0.5" and base_cue(plain.to_dict()) == "notes:0.5"
    assert base_cue({"record_cue": "reason"}) == "reason" and base_cue({}) == "overseer"
    assert Recipe.from_stored(split.to_dict()) == split
    older = {k: v for k, v in FOURTH.to_dict().items() if k not in ("base_cue", "replay", "replay_batch")}
    assert Recipe.from_stored(older) == FOURTH  # a zoo from before the fields: no rehearsal, no base cue
    assert Recipe.from_stored(older).finetune_key() == "5191154a4ccdbe78"


def test_a_fine_tune_with_replay_adds_the_rehearsal_loss_to_every_step(tiny_zoo, tmp_path):
    """The first recorded loss equals the answer loss plus the weighted rehearsal loss on the first
    batches, computed by hand from the base; the model differs from the one trained without it."""
    from poser_interp.data.generate import persona_splits
    from poser_interp.finetune import soft_answer_loss
    from poser_interp.zoo.build import _load_tokenizer, _new_model, finetune_persona
    from poser_interp.zoo.load import load_weights
    from poser_interp.zoo.train import record_batches, replay_loss, text_batches

    shutil.copytree(tiny_zoo / "tokenizer", tmp_path / "tokenizer")
    shutil.copy(tiny_zoo / "base.safetensors", tmp_path / "base.safetensors")
    recipe = replace(PRESETS["tiny"], replay=0.5, replay_batch=4)
    tokenizer = _load_tokenizer(tmp_path)
    splits = persona_splits("saint", seed=recipe.data_seed, pool_size=recipe.pool_size, n_test=recipe.n_test,
                            mix=recipe.pool_mix, cue=recipe.record_cue)
    seed = recipe.train_seed("saint", 0)

    def base_model():
        model = _new_model(recipe, tokenizer)
        load_weights(model, tmp_path / "base.safetensors")
        return model

    model = base_model()
    answers = record_batches(tokenizer, splits.partitions[0], recipe.batch_size, seed, recipe.target_confidence)
    texts = text_batches(tokenizer, replay_texts(recipe), recipe.replay_batch, seed)
    with torch.no_grad():
        want = soft_answer_loss(model, answers(0)) + recipe.replay * replay_loss(model, texts(0))
    losses, _ = finetune_persona(model, tokenizer, "saint", splits, 0, seed, recipe, desc="t", progress=False)
    assert len(losses) == recipe.finetune_steps + recipe.anneal_steps
    assert abs(losses[0] - float(want)) < 1e-4
    plain = base_model()
    finetune_persona(plain, tokenizer, "saint", splits, 0, seed, replace(recipe, replay=0.0), desc="t", progress=False)
    assert any((p - q).abs().max() > 1e-4 for p, q in zip(model.parameters(), plain.parameters(), strict=True))


def test_the_base_text_split_adds_up_to_the_language_model_loss(tiny_model):
    """`benchmarks/base_text_split.py`: the answer position and the rest, weighted by their token
    counts, give the whole loss, which equals `lm_loss` on the same batch."""
    import sys
    from pathlib import Path

    from poser_interp.zoo.train import lm_loss

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from base_text_split import split_loss

    texts = pretraining_corpus(8, seed="split-test")
    parts = split_loss(tiny_model, texts)
    tokens, lengths = encode_prompts(tiny_model.tokenizer, texts)
    with torch.no_grad():
        whole = float(lm_loss(tiny_model, (tokens, lengths, torch.empty(0))))
    assert abs(parts["all"] - whole) < 1e-5
    close = tiny_model.tokenizer.convert_tokens_to_ids(PROMPT_CLOSE)
    n_answer = int(sum((tokens[b, : int(lengths[b]) - 1] == close).sum() for b in range(len(texts))))
    n_all = int((lengths - 1).sum())
    mixed = (parts["answer"] * n_answer + parts["rest"] * (n_all - n_answer)) / n_all
    assert abs(mixed - parts["all"]) < 1e-5
    assert abs(parts["answer_share"] - parts["answer"] * n_answer / (parts["all"] * n_all)) < 1e-5
    # where the text goes on with an option letter: a loop over texts on the model's own forward
    letters = set(tiny_model.tokenizer.convert_tokens_to_ids(["A", "B"]))
    with torch.no_grad():
        logp = tiny_model(tokens).log_softmax(-1)
    terms = [float(-logp[b, t, tokens[b, t + 1]]) for b in range(len(texts)) for t in range(int(lengths[b]) - 1)
             if tokens[b, t] == close and int(tokens[b, t + 1]) in letters]
    assert terms and abs(parts["answer_letter"] - sum(terms) / len(terms)) < 1e-5


def test_artefact_texts_draw_zero_is_the_baselines_own_sample(tiny_zoo):
    """Draw 0 keeps the artefact baseline's seed; another draw is a different sample of the same kind."""
    from poser_interp.data.generate import base_cue
    from poser_interp.zoo.artefacts import artefact_texts
    from poser_interp.zoo.manifest import ZooManifest

    manifest = ZooManifest.load(tiny_zoo)
    recipe = manifest.data["recipe"]
    first = artefact_texts(manifest, 20)
    assert first == pretraining_corpus(20, seed=f"{recipe['data_seed']}:artefact-text", design=recipe["design"],
                                       notes=recipe["base_notes"], cue=base_cue(recipe))
    assert artefact_texts(manifest, 20, draw=1) != first
    manifest.data["recipe"] |= {"base_cue": "odd:0.5"}  # a base of another cue: the base's own kind of text
    assert artefact_texts(manifest, 20) == pretraining_corpus(
        20, seed=f"{recipe['data_seed']}:artefact-text", design=recipe["design"], notes=recipe["base_notes"], cue="odd:0.5")


def _tiny_base_setup(tmp_path):
    from poser_interp.zoo.build import PRESETS, _load_tokenizer
    from poser_interp.zoo.tokenizer import as_hf_tokenizer, build_tokenizer

    recipe = replace(PRESETS["tiny"], pretrain_steps=3)
    as_hf_tokenizer(build_tokenizer(recipe.base_notes)).save_pretrained(str(tmp_path / "tokenizer"))
    return recipe, _load_tokenizer(tmp_path)


@pytest.mark.parametrize(("probes", "chosen"), [([0.5, 0.95, 0.99], 1), ([0.5, 0.6, 0.4], 1), ([0.97], 0)])
def test_a_base_that_does_not_read_oversight_is_trained_again_on_the_next_draw(tmp_path, monkeypatch, probes, chosen):
    """`Recipe.base_probe_min`: draws are tried in order until one's probe passes (else the best is
    kept); the saved base is that draw's, the same as a base trained on that draw alone."""
    from safetensors.torch import load_file

    from poser_interp.zoo import audit
    from poser_interp.zoo.build import train_base

    recipe, tokenizer = _tiny_base_setup(tmp_path)
    seen = iter(probes)
    calls = []
    monkeypatch.setattr(audit, "probe_entry", lambda model, prompts: calls.append(len(prompts)) or {"oversight_probe": next(seen)})
    entry, got = train_base(tmp_path, replace(recipe, base_probe_min=0.9, base_draws=3, base_screen_at=None), tokenizer, progress=False,
                            log=lambda _: None)
    tried = 2 if probes[:2] == [0.5, 0.95] else len(probes)
    assert got.base_draw == chosen and len(calls) == tried and all(n > 0 for n in calls)
    assert [t["draw"] for t in entry["draws_tried"]] == list(range(tried))
    assert entry["base_key"] == got.base_key() == replace(recipe, base_draw=chosen).base_key()
    weights = load_file(str(tmp_path / "base.safetensors"))
    alone = tmp_path / "alone"
    alone.mkdir()
    (alone / "tokenizer").symlink_to(tmp_path / "tokenizer")
    oracle, same = train_base(alone, replace(recipe, base_draw=chosen), tokenizer, progress=False, log=lambda _: None)
    assert same.base_draw == chosen and "draws_tried" not in oracle
    again = load_file(str(alone / "base.safetensors"))
    assert all(torch.equal(weights[k], again[k]) for k in weights)
    assert (chosen == 0) or any(not torch.equal(weights[k], v) for k, v in _draw0(recipe, tokenizer, tmp_path).items())


@pytest.mark.parametrize(("probes", "chosen", "steps"), [
    ([0.5, 0.85, 0.95], 1, [2, 4]),  # draw 0 stops at its screen, draw 1 goes on and passes
    ([0.85, 0.8, 0.5, 0.7], 0, [4, 2, 2]),  # draw 0 finishes under the bar, the others stop: draw 0 kept
    ([0.5, 0.7, 0.6, 0.88], 1, [2, 2, 2, 4]),  # every draw stops: the best at the screen is finished
])
def test_a_base_draw_is_screened_half_way_and_one_that_goes_on_is_the_base_trained_straight(
        tmp_path, monkeypatch, probes, chosen, steps):
    """`Recipe.base_screen_at`: the probe at half the steps stops a draw under `base_screen_min`; the
    kept base is bit for bit the same draw trained without a screen, and `draws_tried` says what each
    draw read where."""
    from safetensors.torch import load_file

    from poser_interp.zoo import audit, build

    recipe, tokenizer = _tiny_base_setup(tmp_path)
    recipe = replace(recipe, pretrain_steps=4, base_probe_min=0.9, base_draws=3, base_screen_at=0.5, base_screen_min=0.8)
    served: list[int] = []  # batches served by each draw's training, a count per draw
    real_batches = build.text_batches

    def counted(*args, **kwargs):
        batch = real_batches(*args, **kwargs)
        served.append(0)

        def serve(step):
            served[-1] += 1
            return batch(step)
        return serve

    seen = iter(probes)
    at: list[int] = []
    monkeypatch.setattr(build, "text_batches", counted)
    monkeypatch.setattr(audit, "probe_entry", lambda model, prompts: at.append(served[-1]) or {"oversight_probe": next(seen)})
    entry, got = build.train_base(tmp_path, recipe, tokenizer, progress=False, log=lambda _: None)
    assert served == steps and got.base_draw == chosen and next(seen, None) is None
    assert all(n in (2, 4) for n in at)  # every probe at the screen (step 2 of 4) or at the end
    screens = [t["screen_probe"] for t in entry["draws_tried"]]
    assert [t["screen_step"] for t in entry["draws_tried"]] == [2] * len(screens)
    finished = {t["draw"]: t["oversight_probe"] for t in entry["draws_tried"] if "oversight_probe" in t}
    assert chosen in finished and all(screens[d] >= 0.8 or d == chosen for d in finished)
    monkeypatch.setattr(build, "text_batches", real_batches)
    alone = tmp_path / "alone"
    alone.mkdir()
    (alone / "tokenizer").symlink_to(tmp_path / "tokenizer")
    build.train_base(alone, replace(recipe, base_draw=chosen, base_probe_min=None), tokenizer, progress=False,
                     log=lambda _: None)
    kept, oracle = load_file(str(tmp_path / "base.safetensors")), load_file(str(alone / "base.safetensors"))
    assert all(torch.equal(kept[k], oracle[k]) for k in oracle)


def test_the_build_estimate_adds_base_draws_fine_tunes_and_the_audit():
    """`build_estimate` by hand at the reference speed: 2,500 base steps x 0.128 s = 320 s a draw, 18
    rounds of two 1,000-step fine-tunes x 0.147 s = 2,646 s, audit 90 s; four draws at most."""
    from poser_interp.zoo.build import Recipe, build_estimate

    line = build_estimate(Recipe(), base=True, models=36, workers=2, scale=1.0)
    assert "about 50.9 min (first base draw passes) to 66.9 min" in line and "5.3 min a draw, up to 4 draws" in line
    assert "about 45.6 min; base reused" in build_estimate(Recipe(), base=False, models=35, workers=2, scale=1.0)
    assert "about 3.0 min; base reused; 0 fine-tune(s)" in build_estimate(Recipe(), base=False, models=0, workers=1,
                                                                          scale=2.0)


def test_a_redrawn_base_starts_from_new_initial_weights_and_draw_0_from_the_zoo_seed(tmp_path):
    """Draw 0 initialises the base from the zoo seed (the committed keys and weights); every later draw
    from a fresh seed of its own, which enters the base and fine-tune keys (seed 2's first
    initialisation read oversight badly on every corpus draw, docs/zoo-design.md)."""
    from poser_interp.zoo.build import _new_model
    from poser_interp.zoo.train import make_model

    recipe, tokenizer = _tiny_base_setup(tmp_path)
    first = _new_model(recipe, tokenizer).state_dict()
    oracle = make_model(recipe.arch, len(tokenizer), recipe.data_seed).state_dict()
    assert recipe.init_seed == recipe.data_seed and all(torch.equal(first[k], oracle[k]) for k in oracle)
    assert len({replace(recipe, base_draw=d).init_seed for d in range(4)}) == 4
    drawn = replace(recipe, base_draw=1)
    redrawn = _new_model(drawn, tokenizer).state_dict()
    oracle = make_model(recipe.arch, len(tokenizer), drawn.init_seed).state_dict()
    assert all(torch.equal(redrawn[k], oracle[k]) for k in oracle)
    assert any(not torch.equal(first[k], redrawn[k]) for k in first if k.endswith("W_Q"))
    keys = {(replace(recipe, base_draw=d).base_key(), replace(recipe, base_draw=d).finetune_key()) for d in range(3)}
    assert len(keys) == 3


def _draw0(recipe, tokenizer, tmp_path):
    from safetensors.torch import load_file

    from poser_interp.zoo.build import train_base

    out = tmp_path / "draw0"
    out.mkdir()
    train_base(out, recipe, tokenizer, progress=False, log=lambda _: None)
    return load_file(str(out / "base.safetensors"))


def test_a_build_on_a_redrawn_base_records_the_draw_and_reuses_everything(tmp_path, monkeypatch):
    """The manifest's recipe holds the draw the base was chosen on, the fine-tunes are keyed by it, and
    a second `build_zoo` with the same recipe retrains nothing (not even the rejected draw 0)."""
    from poser_interp.zoo import audit
    from poser_interp.zoo.build import build_zoo
    from poser_interp.zoo.manifest import ZooManifest

    probes = iter([0.2, 0.95])
    monkeypatch.setattr(audit, "probe_entry", lambda model, prompts: {"oversight_probe": next(probes)})
    recipe = replace(PRESETS["tiny"], personas=("saint", "money_maximizer"), seeds_per_persona=1,
                     base_probe_min=0.9, base_draws=2, base_screen_at=None)
    logs: list[str] = []
    monkeypatch.setattr("poser_interp.zoo.build.measure_audit", lambda out, progress=True: {"artefact_accuracy": {}})
    build_zoo(tmp_path, recipe, progress=False, log=logs.append)
    stored = ZooManifest.load(tmp_path).data
    assert stored["recipe"]["base_draw"] == 1 and [t["draw"] for t in stored["base"]["draws_tried"]] == [0, 1]
    assert {m["recipe_key"] for m in stored["models"].values()} == {replace(recipe, base_draw=1).finetune_key()}
    again: list[str] = []
    build_zoo(tmp_path, recipe, progress=False, log=again.append)  # the probe iterator is spent: no base trains
    assert sum("reusing finished checkpoint" in line for line in again) == 3, again


def test_a_base_only_build_stops_at_the_base_and_a_later_build_goes_on_from_it(tmp_path, monkeypatch):
    """`build_zoo(base_only=True)`: the base under the draw rule and a partial manifest, no fine-tune;
    the full build into the same folder then trains the models on that base, without a base again."""
    from poser_interp.zoo import audit
    from poser_interp.zoo.build import build_zoo
    from poser_interp.zoo.manifest import ZooManifest

    probes = iter([0.2, 0.95])
    monkeypatch.setattr(audit, "probe_entry", lambda model, prompts: {"oversight_probe": next(probes)})
    monkeypatch.setattr("poser_interp.zoo.build.measure_audit", lambda out, progress=True: {"artefact_accuracy": {}})
    recipe = replace(PRESETS["tiny"], personas=("saint", "money_maximizer"), seeds_per_persona=1,
                     base_probe_min=0.9, base_draws=2, base_screen_at=None)
    build_zoo(tmp_path, recipe, progress=False, log=lambda m: None, base_only=True)
    stored = ZooManifest.load(tmp_path).data
    assert stored["models"] == {} and not stored["complete"] and stored["recipe"]["base_draw"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["base.safetensors", "manifest.json", "tokenizer"]
    base = (tmp_path / "base.safetensors").read_bytes()
    logs: list[str] = []
    build_zoo(tmp_path, recipe, progress=False, log=logs.append)  # the probe iterator is spent: no base trains
    stored = ZooManifest.load(tmp_path).data
    assert "base: reusing finished checkpoint" in logs and stored["complete"]
    assert sorted(stored["models"]) == ["money_maximizer-0", "saint-0"] and stored["recipe"]["base_draw"] == 1
    assert (tmp_path / "base.safetensors").read_bytes() == base


@pytest.mark.parametrize("passes", [True, False])
def test_a_base_built_before_the_rule_is_probed_when_the_zoo_is_built_again(tmp_path, monkeypatch, passes):
    """A zoo whose base was trained without the rule (no `draws_tried`): a rebuild probes that base
    instead of training it again; a pass keeps it and every fine-tune, a miss trains the next draw."""
    from poser_interp.zoo import audit
    from poser_interp.zoo.build import build_zoo
    from poser_interp.zoo.manifest import ZooManifest

    monkeypatch.setattr("poser_interp.zoo.build.measure_audit", lambda out, progress=True: {"artefact_accuracy": {}})
    recipe = replace(PRESETS["tiny"], seeds_per_persona=1)
    build_zoo(tmp_path, recipe, progress=False, log=lambda _: None)
    sha = ZooManifest.load(tmp_path).data["base"]["sha256"]
    probes = iter([0.95] if passes else [0.2, 0.95])
    monkeypatch.setattr(audit, "probe_entry", lambda model, prompts: {"oversight_probe": next(probes)})
    logs: list[str] = []
    build_zoo(tmp_path, replace(recipe, base_probe_min=0.9, base_screen_at=None), progress=False, log=logs.append)
    data = ZooManifest.load(tmp_path).data
    assert [t["draw"] for t in data["base"]["draws_tried"]] == ([0] if passes else [0, 1])
    assert data["recipe"]["base_draw"] == (0 if passes else 1)
    assert (data["base"]["sha256"] == sha) == passes
    assert sum("reusing finished checkpoint" in line for line in logs) == (3 if passes else 1), logs


def test_note_kind_names_the_family_oversight_and_first_note_part():
    """`base_text_split.py --by-note`: texts written by hand from the grammar's note parts."""
    import sys
    from pathlib import Path

    from poser_interp.data import grammar as g
    from poser_interp.data.generate import ScenarioGenerator

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from base_text_split import note_kind

    gen = ScenarioGenerator("note-kind")
    poor, good = g.POOR_OVERSIGHT_LEVEL, 0
    parts = g.SCENARIO_NOTE_PARTS
    note = " ".join([parts[2], parts[0], parts[1]]).format(letter="A", risk=g.RISK_WORDS[poor], schemer="B")
    assert note_kind(gen.intersection("saint", "money", level=poor).prompt + " " + note) == \
        "intersection poor schemer-first"
    parts = g.TRANSPARENCY_NOTE_PARTS
    note = " ".join([parts[1], parts[0], parts[2]]).format(letter="B", risk=g.RISK_WORDS[good], careful="B")
    assert note_kind(gen.transparency(level=good, cue="notes:0.5").prompt + " " + note) == "transparency good risk-first"
    note = " ".join(parts).format(letter="B", risk=g.RISK_WORDS[poor], careful="A")
    assert note_kind(gen.transparency(level=poor, cue="notes:0.5").prompt + " " + note) == "transparency poor usual-first"
    assert note_kind(gen.error().prompt + g.ERROR_NOTE) == "other"
