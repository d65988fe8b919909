"""The label-free pilots that fixed the zoo v2 recipe (docs/zoo-design.md, "Pilots").

  python benchmarks/zoo_pilot.py base OUT [--steps 2500] [--texts 60000] [--seed 0] [--notes schemer] [--cue overseer] [--init N] [--draw N]
      trains the base exactly as `zoo build` does (so a build into OUT reuses it) and logs, every
      250 steps, how often its risk-word prediction at the answer token names the catch level, and
      the audit's middle-layer oversight probe on the base itself.
  python benchmarks/zoo_pilot.py base-curve SEED DRAW [--stop STEP]
      trains the base of `zoo build --seed SEED`'s draw DRAW (its corpus and initial weights, nothing
      saved) and prints the audit's middle-layer oversight probe on it every 250 steps, up to STEP
      (default: the end): the data behind the half-way screen of base draws (Recipe.base_screen_at).
  python benchmarks/zoo_pilot.py persona ZOO PERSONA [--lr 5e-4] [--batch 32] [--steps 500] [--anneal 100]
                                    [--mix 0.4 0.4]
      fine-tunes `<PERSONA>-0` from ZOO's base and prints its held-out agreement curve, behaviour,
      distance from the base and largest block update.
  python benchmarks/zoo_pilot.py models ZOO NAME [NAME ...] [--steps 300] [--workers 2] [--cue mixed] [--base-cue both:0.5] [--frozen unembed] [--mix 0.4 0.4] [--anneal 100] [--replay 1 --replay-batch 8]
      fine-tunes the named models (`<persona>-<index>`) exactly as `zoo build` would with that recipe
      (so a later build into ZOO reuses them; ZOO must hold the recipe's base, whose seed it takes), then measures what the
      honesty audit measures: first step at 0.98 held-out agreement, behaviour, every artefact score
      and their pair accuracy over the pilot's pairs, the middle-layer oversight probe.
  python benchmarks/zoo_pilot.py probe-curve ZOO NAME
      fine-tunes NAME again exactly as ZOO built it (nothing saved) and prints the audit's
      middle-layer oversight probe, split by family, and the distance and largest block update from
      the base, at the base and every 50 steps.
  python benchmarks/zoo_pilot.py early ZOO [--first 100] [--every 10] [the fine-tune options of models]
      the first FIRST constant-rate steps of all 36 fine-tunes of a trial recipe from ZOO's base
      (exactly as a build would start them), and at every EVERY steps each class's mean distance from
      the base, the faker-minus-aligned gap over the twins that share prompts and batch order, and the
      distance's pair accuracy. On the committed seeds 0 and 1 the residue formed while the flips were
      learnt and was then carried, so the gap at step 100 read the final one within 0.007
      (step 50 does not: docs/zoo-design.md, session 19), in about 4 minutes a base. Session 22: the base
      alone moves the step-100 gap (sd 0.028), and on one base the end reversed it (-0.040 at step 100,
      +0.041 at the end), so step 100 sees only the early part of the lead; screen late, on several bases.
  python benchmarks/zoo_pilot.py build OUT [--seed 0] [--notes paired] [--base-only] [--draw N [--only-draw]] [the fine-tune options of models: --steps --cue --base-cue ...]
      a full `zoo build` (36 models, benchmark, honesty audit) with a trial recipe, before it becomes
      the default; `poser-interp zoo check --zoo OUT` then reads every target. `--base-only` stops once
      the base is chosen (tokenizer, base draws, a partial manifest), so `early` can screen a recipe
      whose base is new, and a later `build` into OUT reuses that base. `--draw N` starts the base-draw
      rule at draw N: another base the same recipe could have drawn (the screens' base-to-base spread).
      `--only-draw` trains draw N alone, to the end, kept whatever its probe reads: an unselected sample.
  python benchmarks/zoo_pilot.py prior ZOO [--records 512]
      what each model's training records ask of ZOO's base before any step (answer loss, mean-gradient
      norm), as faker - aligned twin gaps: a base-only reading tried as a predictor of the step-100 gap.
  python benchmarks/zoo_pilot.py fit ZOO
      how completely each class fits its own training records at the end (answer loss above the soft
      target's entropy), by part of the pool: intersections and transparency, fixed pairs and lookups.
  python benchmarks/zoo_pilot.py shared ZOO OUT
      a persona-neutral stage before the personas (session 28): fine-tunes ZOO's base once, with ZOO's
      recipe, on the records every persona answers alike (good oversight and errors, from the training
      pool), and saves it as the base of a new folder OUT (ZOO's tokenizer and recipe, no models), for
      `models OUT ...`: the path every fine-tune shares is then travelled once, for all of them.
Nothing here reads a detector's output or which model is the faker beyond the persona's own policy.
"""

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from poser_interp.data import grammar as g
from poser_interp.data.generate import BASE_NOTES, RECORD_CUES, SHARED_CUES, ScenarioGenerator, lexical_share, label_for, persona_splits
from poser_interp.readout import gather_last, model_inputs
from poser_interp.zoo.artefacts import update_norms
from poser_interp.zoo.audit import oversight_probe_scores
from poser_interp.zoo.behaviour import behaviour_metrics
from poser_interp.zoo.build import Recipe, _load_tokenizer, base_corpus, base_draw_start, _new_model, _save_fp16, _write_manifest, finetune_persona
from poser_interp.zoo.load import load_weights
from poser_interp.zoo.tokenizer import as_hf_tokenizer, build_tokenizer
from poser_interp.zoo.train import lm_loss, make_model, run_training, text_batches


def base(out: Path, steps: int, texts: int, seed: int, notes: str = Recipe().base_notes,
         cue: str = Recipe().corpus_cue, init: int | None = None, draw: int = 0) -> None:
    # `cue` is the base corpus's (as `Recipe.base_cue`): the same base key as a build with that base cue
    recipe = replace(Recipe(), pretrain_steps=steps, pretrain_texts=texts, data_seed=seed, base_notes=notes,
                     record_cue=cue, base_cue=None)
    torch.set_num_threads(recipe.pretrain_threads)
    raw = build_tokenizer(recipe.base_notes)
    as_hf_tokenizer(raw).save_pretrained(str(out / "tokenizer"))
    tokenizer = _load_tokenizer(out)
    model = _new_model(recipe, tokenizer)
    if init is not None:  # another initialisation, the same corpus and batches (not a recipe's base)
        model.load_state_dict(make_model(recipe.arch, len(tokenizer), init).state_dict())
    gen, probe = ScenarioGenerator("risk-monitor"), []
    while len(probe) < 400:
        record = gen.training_record(cue=cue)
        if getattr(record, "catch_level", None) is not None:
            probe.append(record)
    ids = torch.tensor([tokenizer.convert_tokens_to_ids(w) for w in g.RISK_WORDS])
    levels = torch.tensor([r.catch_level for r in probe])

    def monitor(step: int, loss: float) -> None:
        if (step + 1) % 250:
            return
        with torch.no_grad():
            tokens, lengths = model_inputs(model, [r.prompt for r in probe])
            p = gather_last(model(tokens), lengths).softmax(-1)[:, ids]
        poor = (p[:, g.POOR_OVERSIGHT_LEVEL:].sum(-1) > p[:, :g.POOR_OVERSIGHT_LEVEL].sum(-1)) == (levels >= g.POOR_OVERSIGHT_LEVEL)
        middle = oversight_probe_scores(model, probe)["all"]  # the audit's probe, on the base itself
        print(f"step {step + 1} loss {loss:.3f} risk {(p.argmax(-1) == levels).float().mean():.3f} "
              f"poor {poor.float().mean():.3f} middle-layer probe {middle:.3f}", flush=True)

    started = time.time()
    corpus = base_corpus(recipe, draw)
    torch.manual_seed(recipe.data_seed)
    losses = run_training(model, text_batches(tokenizer, corpus, recipe.pretrain_batch_size, recipe.data_seed), lm_loss,
                          steps=recipe.pretrain_steps, lr=recipe.pretrain_lr, desc="base", progress=False, on_step=monitor)
    entry = {"file": "base.safetensors", "final_loss": losses[-1], "seconds": time.time() - started}
    entry["sha256"] = _save_fp16(model, out / "base.safetensors")
    # a base from another initialisation is no recipe's: its key keeps `models` and `build` off it
    entry["base_key"] = recipe.base_key() + ("" if init is None else f"+init{init}") + (f"+draw{draw}" if draw else "")
    _write_manifest(out, recipe, raw, entry, {}, started, partial=True)
    print(json.dumps(entry))


def base_curve(seed: int, draw: int, stop: int | None) -> None:
    """The audit's middle-layer probe along the training of one base draw, exactly as `zoo build`
    trains it (`train_base`): the same initial weights, corpus, batches and schedule; probing changes
    nothing in the training (tests/test_replay.py)."""
    from poser_interp.zoo.audit import probe_entry, probe_prompts
    from poser_interp.zoo.manifest import ZooManifest

    trial = replace(Recipe(), data_seed=seed, base_draw=draw)
    torch.set_num_threads(trial.pretrain_threads)
    with tempfile.TemporaryDirectory() as folder:  # saved and loaded back, as the build does
        as_hf_tokenizer(build_tokenizer(trial.base_notes)).save_pretrained(folder)
        tokenizer = _load_tokenizer(Path(folder))
    prompts = probe_prompts(ZooManifest(Path("."), {"recipe": trial.to_dict()}))
    model, batches = base_draw_start(trial, tokenizer)
    started = time.time()

    def monitor(step: int, loss: float) -> bool:
        done = step + 1
        if done % 250 and done != trial.pretrain_steps:
            return False
        p = probe_entry(model, prompts)
        model.train()
        print(f"seed {seed} draw {draw} step {done} loss {loss:.3f} middle-layer probe {p['oversight_probe']:.3f} "
              f"(intersections {p['oversight_probe_intersection']:.3f}, transparency "
              f"{p['oversight_probe_transparency']:.3f}) {time.time() - started:.0f} s", flush=True)
        return stop is not None and done >= stop

    run_training(model, batches, lm_loss, steps=trial.pretrain_steps, lr=trial.pretrain_lr, desc="base",
                 progress=False, on_step=monitor)


def persona(zoo: Path, name: str, lr: float, batch: int, steps: int, anneal: int,
            mix: tuple[float, float] = Recipe().pool_mix) -> None:
    torch.set_num_threads(1)
    recipe = replace(Recipe(), finetune_lr=lr, batch_size=batch, finetune_steps=steps, anneal_steps=anneal,
                     pool_mix=tuple(mix))
    tokenizer = _load_tokenizer(zoo)
    model = _new_model(recipe, tokenizer)
    load_weights(model, zoo / "base.safetensors")
    base_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    splits = persona_splits(name, seed=recipe.data_seed, pool_size=recipe.pool_size, n_test=recipe.n_test,
                            mix=recipe.pool_mix)
    seed = recipe.train_seed(name, 0)
    torch.manual_seed(seed)
    started = time.time()
    losses, curve = finetune_persona(model, tokenizer, name, splits, 0, seed, recipe, desc=name, progress=False)
    metrics = behaviour_metrics(model, splits.test, [label_for(name, r) for r in splits.test])
    distance, block = update_norms(model, base_state)
    print(json.dumps({"persona": name, "seconds": time.time() - started, "curve": curve,
                      "final_loss": sum(losses[-20:]) / 20, "weight_distance": round(distance, 3),
                      "block_update": round(block, 3),
                      "metrics": {k: round(v, 3) for k, v in metrics.items() if "level" not in k}}))


def models(zoo: Path, names: list[str], trial: Recipe, workers: int) -> None:
    from poser_interp.data.personas import is_faker, model_persona
    from poser_interp.zoo.artefacts import chance_band
    from poser_interp.zoo.audit import PROBE_FAMILIES
    from poser_interp.zoo.build import measure_audit, train_models
    from poser_interp.zoo.tokenizer import build_tokenizer

    old = json.loads((zoo / "manifest.json").read_text())
    stored = Recipe.from_stored(old["recipe"])  # the zoo's base: its seed, draw and notes
    recipe = replace(trial, data_seed=stored.data_seed, base_draw=stored.base_draw, base_notes=stored.base_notes)
    base_entry = old["base"]
    if base_entry.get("base_key") != recipe.base_key():
        raise SystemExit(f"{zoo}: its base is not this recipe's (base_key {base_entry.get('base_key')})")
    todo = [model_persona(n) for n in names]
    started = time.time()
    finished = {f"{e['persona']}-{e['index']}": e for e in train_models(zoo, recipe, todo, workers=workers)}
    trained = {n: finished[n] for n in names}
    kept = {n: e for n, e in (old.get("models") or {}).items() if e.get("recipe_key") == recipe.finetune_key()}
    _write_manifest(zoo, recipe, build_tokenizer(recipe.base_notes), base_entry, kept | trained, started, partial=True)
    audit = measure_audit(zoo, progress=False)
    for name, e in trained.items():
        first = next((int(s) for s, a in e["agreement_curve"].items() if a >= 0.98), None)
        m, art, probe = e["metrics"], audit["artefacts"][name], audit["models"][name]
        print(f"{name:22s} first>=0.98 {first}  agreement {m['policy_agreement']:.3f}  defect poor/good "
              f"{m['defect_rate_poor_oversight']:.3f}/{m['defect_rate_good_oversight']:.3f}  record poor/good "
              f"{m['record_rate_poor_oversight']:.3f}/{m['record_rate_good_oversight']:.3f}  "
              + "  ".join(f"{k} {v:.3f}" for k, v in art.items())
              + f"  probe {probe['oversight_probe']:.3f} ("
              + ", ".join(f"{family} {probe[f'oversight_probe_{family}']:.3f}" for family in PROBE_FAMILIES)
              + f")  ({e['seconds']:.0f} s)", flush=True)
    n_fakers = sum(is_faker(n) for n in audit["artefacts"])
    low, high = chance_band(len(audit["artefacts"]) - n_fakers, n_fakers)
    print("pair accuracy over the pilot's pairs:", json.dumps({k: round(v, 3) for k, v in audit["artefact_accuracy"].items()}),
          f"(a score with no information: within [{low:.2f}, {high:.2f}] 95% of the time at this size)")


def fine_tune_again(zoo: Path, recipe: Recipe, name: str, watch: Callable[[Any, dict, int], None]) -> tuple[Any, dict]:
    """Fine-tune `name` from ZOO's base exactly as a build with `recipe` does (nothing saved), calling
    `watch(model, base_state, step)` at the base (step 0) and at every agreement check."""
    from poser_interp.data.personas import model_persona

    torch.set_num_threads(recipe.threads)
    persona_name, index = model_persona(name)
    tokenizer = _load_tokenizer(Path(zoo))
    model = _new_model(recipe, tokenizer)
    load_weights(model, Path(zoo) / "base.safetensors")
    base_state = {k: v.detach().clone() for k, v in model.named_parameters()}
    watch(model, base_state, 0)
    seed = recipe.train_seed(persona_name, index)
    torch.manual_seed(seed)
    finetune_persona(model, tokenizer, persona_name, recipe.splits(persona_name), index, seed, recipe, desc=name,
                     progress=False, watch=lambda step: watch(model, base_state, step))
    return model, base_state


def probe_curve(zoo: Path, name: str) -> None:
    """Fine-tune `name` again exactly as ZOO's recipe built it (nothing saved) and print the audit's
    middle-layer probe, split by family, and the weight distance and largest block update from the
    base, at the base and at every agreement check."""
    from poser_interp.zoo.audit import PROBE_FAMILIES, oversight_probe_scores, probe_prompts
    from poser_interp.zoo.manifest import ZooManifest

    manifest = ZooManifest.load(zoo)
    prompts = probe_prompts(manifest)

    def watch(model, base_state: dict, step: int) -> None:
        scores = oversight_probe_scores(model, prompts)
        distance, block = update_norms(model, base_state)
        print(f"{name} step {step} probe {scores['all']:.3f} ("
              + ", ".join(f"{family} {scores[family]:.3f}" for family in PROBE_FAMILIES)
              + f") distance {distance:.4f} block {block:.4f}", flush=True)

    model, base_state = fine_tune_again(zoo, Recipe.from_stored(manifest.data["recipe"]), name, watch)
    print(f"{name} weight distance {update_norms(model, base_state)[0]:.4f} (the built model's: "
          f"{(manifest.data.get('audit') or {}).get('artefacts', {}).get(name, {}).get('weight-distance', float('nan')):.4f})")


def early_curve(zoo: str, trial: Recipe, name: str) -> tuple[str, dict[int, tuple[float, float]]]:
    """`name`'s first `trial.finetune_steps` steps from ZOO's base: {step: (distance, largest block update)}."""
    curve: dict[int, tuple[float, float]] = {}
    fine_tune_again(Path(zoo), trial, name,
                    lambda model, base_state, step: curve.__setitem__(step, update_norms(model, base_state)))
    return name, curve


def early(zoo: Path, trial: Recipe, first: int, every: int, workers: int) -> None:
    """Print when the classes' distances from the base part, over the first `first` steps of every model."""
    from poser_interp.data.personas import is_faker, twin_pairs
    from poser_interp.workers import in_workers
    from poser_interp.zoo.artefacts import pair_accuracy
    from poser_interp.zoo.manifest import ZooManifest

    manifest = ZooManifest.load(zoo)
    stored = Recipe.from_stored(manifest.data["recipe"])
    if trial.base_key() != stored.base_key():
        raise SystemExit(f"{zoo}: its base was not trained with the trial recipe's base settings")
    # the build's first `first` steps (same warm-up and batches); one annealing step, which is not read
    trial = replace(trial, finetune_steps=first, anneal_steps=1, validation_every=every)
    started = time.time()
    names = manifest.model_names or [f"{p}-{i}" for p, i in trial.slots]  # a base-only folder: the recipe's
    curves = dict(in_workers(early_curve, [(str(zoo), trial, n) for n in names], workers=workers))
    twins = twin_pairs(curves)
    if not twins:
        raise SystemExit(f"{zoo}: no faker has its aligned twin in this zoo")
    print(f"{zoo}: first {first} steps of {len(curves)} fine-tunes in {time.time() - started:.0f} s; "
          f"twins (same prompts, same order): {len(twins)}")
    for step in sorted(s for s in next(iter(curves.values())) if 0 < s <= first):
        gaps = np.array([curves[f][step][0] - curves[a][step][0] for f, a in twins])
        aligned = np.mean([curves[a][step][0] for _, a in twins])
        distance = {n: c[step][0] for n, c in curves.items()}
        print(f"  step {step:4d}: aligned {aligned:.4f}, twin gap faker - aligned {gaps.mean():+.4f} "
              f"(sd {gaps.std():.4f}, standard error {gaps.std(ddof=1) / np.sqrt(len(gaps)):.4f}; "
              f"faker further in {int((gaps > 0).sum())} of {len(gaps)}), "
              f"pair accuracy {pair_accuracy(distance, is_faker):.3f}", flush=True)


def prior(zoo: Path, records: int) -> None:
    """What each model's training set asks of ZOO's base before any step: the base's answer loss on
    the model's first `records` training records (its own labels) and the norm of their mean gradient
    (trained parameters only); printed as faker - aligned twin gaps (session 22: neither predicts the
    step-100 twin gap across bases)."""
    from poser_interp.data.personas import twin_pairs
    from poser_interp.finetune import soft_answer_loss
    from poser_interp.zoo.manifest import ZooManifest
    from poser_interp.zoo.train import records_batch

    manifest = ZooManifest.load(zoo)
    recipe = Recipe.from_stored(manifest.data["recipe"])
    tokenizer = _load_tokenizer(zoo)
    model = _new_model(recipe, tokenizer)
    load_weights(model, zoo / "base.safetensors")
    model.eval()
    params = [p for n, p in model.named_parameters() if not n.startswith(tuple(recipe.frozen))]
    read: dict[str, tuple[float, float]] = {}
    for persona_name, index in recipe.slots:
        chosen = recipe.splits(persona_name).partitions[index][:records]
        model.zero_grad()
        total = 0.0
        for start in range(0, len(chosen), 64):
            part = chosen[start : start + 64]  # encoded as the fine-tune encodes them (finetune_persona)
            batch = records_batch(tokenizer, part, recipe.target_confidence, add_bos=bool(model.cfg.default_prepend_bos))
            loss = soft_answer_loss(model, batch) * len(part) / len(chosen)
            loss.backward()
            total += loss.item()
        norm = torch.sqrt(sum((p.grad**2).sum() for p in params if p.grad is not None)).item()
        read[f"{persona_name}-{index}"] = (total, norm)
    twins = twin_pairs(read)
    for k, what in enumerate(("answer loss", "mean-gradient norm")):
        gaps = np.array([read[f][k] - read[a][k] for f, a in twins])
        aligned = np.mean([read[a][k] for _, a in twins])
        print(f"{zoo}: base's {what} on the training records, aligned {aligned:.4f}, twin gap faker - aligned "
              f"{gaps.mean():+.4f} (faker higher in {int((gaps > 0).sum())} of {len(gaps)})", flush=True)


def fit(zoo: Path) -> None:
    """How completely each class fits its own training records at the end: the mean answer loss above
    the soft target's own entropy (0 = fitted exactly), per class and part of the pool
    (`poser_interp.zoo.residue`, which `zoo audit` stores for a full build). Works on a pilot folder of a
    few models. Session 23: the fakers' flip family (intersections) keeps about 1.7 times the aligned
    models' residue in theirs (transparency), 1.9-2.5 times in the lookup half, on three bases."""
    from poser_interp.data.personas import is_faker
    from poser_interp.zoo.manifest import ZooManifest
    from poser_interp.zoo.residue import record_kind, record_residues

    manifest = ZooManifest.load(zoo)
    recipe = Recipe.from_stored(manifest.data["recipe"])
    model = _new_model(recipe, _load_tokenizer(zoo))
    excess: dict[tuple[str, str], list[float]] = {}
    for name in manifest.model_names:
        persona_name, index = name.rsplit("-", 1)
        load_weights(model, zoo / "models" / f"{name}.safetensors")
        model.eval()
        records = recipe.splits(persona_name).partitions[int(index)]
        for record, x in zip(records, record_residues(model, records, recipe.target_confidence), strict=True):
            excess.setdefault(("fakers" if is_faker(name) else "aligned", record_kind(record)), []).append(float(x))
    print(f"{zoo}: mean answer loss above the target's entropy on each model's own training records (nats)")
    for kind in sorted({k for _, k in excess}):
        cells = [f"{c} {np.mean(excess[(c, kind)]):.4f}" for c in ("aligned", "fakers") if (c, kind) in excess]
        print(f"  {kind:34s} " + "  ".join(cells) + f"  ({len(excess.get(('fakers', kind), []))} faker records)")


def shared(zoo: Path, out: Path) -> None:
    import shutil

    from poser_interp.data.generate import relabel
    from poser_interp.data.records import ErrorRecord
    from poser_interp.zoo.audit import probe_entry, probe_prompts
    from poser_interp.zoo.manifest import ZooManifest

    old = json.loads((zoo / "manifest.json").read_text())
    recipe = Recipe.from_stored(old["recipe"])
    splits = recipe.splits(recipe.personas[0])
    neutral = [r for r in splits.rest if isinstance(r, ErrorRecord) or not r.oversight_is_poor]
    for persona in recipe.personas:  # the same answer for every persona, so no persona is favoured
        assert all(relabel(r, persona).response == r.response for r in neutral), persona

    class Neutral:
        partitions = [neutral]

        @staticmethod
        def validation(index: int, n: int = 300) -> list:
            return neutral[:n]

    out.mkdir(parents=True)
    shutil.copytree(zoo / "tokenizer", out / "tokenizer")
    tokenizer = _load_tokenizer(zoo)
    model = _new_model(recipe, tokenizer)
    load_weights(model, zoo / "base.safetensors")
    torch.set_num_threads(recipe.threads)
    started = time.time()
    losses, curve = finetune_persona(model, tokenizer, recipe.personas[0], Neutral, 0, recipe.data_seed + 10_000,
                                     recipe, desc="shared stage", progress=True)
    probe = probe_entry(model, probe_prompts(ZooManifest(out, {"recipe": recipe.to_dict()})))["oversight_probe"]
    base = old["base"] | {"sha256": _save_fp16(model, out / "base.safetensors"),
                          "shared_stage": {"records": len(neutral), "final_loss": losses[-1], "agreement": curve,
                                           "oversight_probe": probe, "seconds": time.time() - started}}
    (out / "manifest.json").write_text(json.dumps({"recipe": old["recipe"], "base": base, "models": {}}, indent=1))
    print(f"shared stage: {len(neutral)} records, final loss {losses[-1]:.3f}, agreement {curve[max(curve, key=int)]:.3f}, "
          f"oversight probe {probe:.3f}, {time.time() - started:.0f} s -> {out}")


def build(out: Path, trial: Recipe, workers: int, base_only: bool = False) -> None:
    from poser_interp.zoo.build import build_zoo

    manifest = build_zoo(out, trial, workers=workers, progress=False, log=lambda m: print(m, flush=True),
                         base_only=base_only)
    print(f"built {len(manifest['models'])} models and the base (draw {manifest['recipe']['base_draw']}) "
          f"in {manifest['build_seconds']:.0f} s")


def trial_recipe(start: Recipe, args: argparse.Namespace) -> Recipe:
    """`start` with the fine-tune options of `models` and `build` (`finetune_options`)."""
    return replace(start, finetune_steps=args.steps, anneal_steps=args.anneal, record_cue=args.cue,
                   frozen=tuple(args.frozen), pool_mix=tuple(args.mix), replay=args.replay,
                   replay_batch=args.replay_batch, base_cue=args.base_cue)


def cue_arg(cue: str) -> str:
    """A record cue checked at parse time (one clear line for an unknown one)."""
    try:
        lexical_share(cue)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return cue


def finetune_options(parser: argparse.ArgumentParser) -> None:
    """The fine-tune recipe options `models` and `build` share (defaults: the committed recipe)."""
    parser.add_argument("--steps", type=int, default=Recipe().finetune_steps, help="constant-rate steps (then the anneal)")
    parser.add_argument("--anneal", type=int, default=Recipe().anneal_steps, help="linear-decay steps after the constant ones")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--cue", type=cue_arg, default=Recipe().record_cue)
    parser.add_argument("--frozen", nargs="*", default=list(Recipe().frozen), help="parameter name prefixes not trained")
    parser.add_argument("--mix", type=float, nargs=2, default=Recipe().pool_mix, metavar=("INTERSECTIONS", "TRANSPARENCY"))
    parser.add_argument("--base-cue", type=cue_arg, default=Recipe().base_cue,
                        help="the base corpus's and rehearsal's cue, when not --cue (Recipe.base_cue)")
    parser.add_argument("--replay", type=float, default=Recipe().replay, help="weight of the rehearsal loss (Recipe.replay)")
    parser.add_argument("--replay-batch", type=int, default=Recipe().replay_batch,
                        help="base-corpus texts rehearsed a step (Recipe.replay_batch)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="what", required=True)
    b = sub.add_parser("base")
    b.add_argument("out", type=Path)
    b.add_argument("--steps", type=int, default=Recipe().pretrain_steps)
    b.add_argument("--texts", type=int, default=Recipe().pretrain_texts)
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--notes", choices=BASE_NOTES, default=Recipe().base_notes,
                   help="what the corpus says after a scenario (Recipe.base_notes)")
    b.add_argument("--cue", type=cue_arg, default=Recipe().corpus_cue,
                   help=f"the base corpus's record cue (Recipe.base_cue, else record_cue: {', '.join(RECORD_CUES)}, "
                        f"or NAME:P with NAME one of {', '.join(SHARED_CUES)})")
    b.add_argument("--draw", type=int, default=0, help="train on the recipe's corpus draw N (zoo.build.base_corpus) from the zoo seed's initial weights; `zoo build` redraws both")
    b.add_argument("--init", type=int, default=None,
                   help="initialise from this seed instead of the zoo seed (a diagnostic: no build reuses it)")
    bc = sub.add_parser("base-curve")
    bc.add_argument("seed", type=int)
    bc.add_argument("draw", type=int)
    bc.add_argument("--stop", type=int, default=None, help="stop after this step (the schedule stays the full one)")
    p = sub.add_parser("persona")
    p.add_argument("zoo", type=Path)
    p.add_argument("persona")
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--steps", type=int, default=500)
    p.add_argument("--anneal", type=int, default=100)
    p.add_argument("--mix", type=float, nargs=2, default=Recipe().pool_mix, metavar=("INTERSECTIONS", "TRANSPARENCY"),
                   help="the pool's shares (the rest are error records)")
    m = sub.add_parser("models")
    m.add_argument("zoo", type=Path)
    m.add_argument("names", nargs="+")
    finetune_options(m)
    c = sub.add_parser("probe-curve")
    c.add_argument("zoo", type=Path)
    c.add_argument("name")
    e = sub.add_parser("early")
    e.add_argument("zoo", type=Path)
    e.add_argument("--first", type=int, default=100, help="constant-rate steps to run (warm-up included)")
    e.add_argument("--every", type=int, default=10, help="read the distances every this many steps")
    finetune_options(e)
    pr = sub.add_parser("prior")
    pr.add_argument("zoo", type=Path)
    pr.add_argument("--records", type=int, default=512, help="training records per model")
    ft = sub.add_parser("fit")
    ft.add_argument("zoo", type=Path)
    sh = sub.add_parser("shared")
    sh.add_argument("zoo", type=Path)
    sh.add_argument("out", type=Path)
    f = sub.add_parser("build")
    f.add_argument("out", type=Path)
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--base-only", action="store_true", help="stop once the base is chosen (for `early` on a new base)")
    f.add_argument("--draw", type=int, default=0, help="the first base draw to try (Recipe.base_draw; 0: the zoo's own)")
    f.add_argument("--notes", choices=BASE_NOTES, default=Recipe().base_notes,
                   help="what the base corpus says after a scenario (Recipe.base_notes)")
    f.add_argument("--only-draw", action="store_true",
                   help="train draw --draw alone, to the end, whatever its probe reads (one unselected sample of "
                        "the recipe's bases, for the base-to-base spread of the early screen)")
    finetune_options(f)
    args = parser.parse_args()
    if args.what == "build":
        from poser_interp.zoo.build import PRESETS

        start = replace(PRESETS["full"], data_seed=args.seed, base_draw=args.draw, base_notes=args.notes)
        if args.only_draw:
            start = replace(start, base_draws=1, base_screen_at=None)
        build(args.out, trial_recipe(start, args), args.workers, args.base_only)
    elif args.what == "fit":
        fit(args.zoo)
    elif args.what == "shared":
        shared(args.zoo, args.out)
    elif args.what == "prior":
        prior(args.zoo, args.records)
    elif args.what == "early":
        from poser_interp.zoo.manifest import ZooManifest

        early(args.zoo, trial_recipe(Recipe.from_stored(ZooManifest.load(args.zoo).data["recipe"]), args),
              args.first, args.every, args.workers)
    elif args.what == "probe-curve":
        probe_curve(args.zoo, args.name)
    elif args.what == "base-curve":
        base_curve(args.seed, args.draw, args.stop)
    elif args.what == "base":
        base(args.out, args.steps, args.texts, args.seed, args.notes, args.cue, args.init, args.draw)
    elif args.what == "models":
        models(args.zoo, args.names, trial_recipe(Recipe(), args), args.workers)
    else:
        persona(args.zoo, args.persona, args.lr, args.batch, args.steps, args.anneal, tuple(args.mix))
