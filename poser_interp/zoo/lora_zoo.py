"""`poser-interp zoo lora`: a mini-zoo of LoRA fine-tunes of a pretrained Llama (SmolLM2-135M by default).

The zoo v2 recipe (`zoo/build.py`, docs/zoo-design.md) on a real model: every model trains for the
same fixed budget (constant LR, then the same linear anneal, no early stop) on partition `i` of the
shared pool (the same prompts for model `i` of every persona; only the labels differ), with the soft
answer-token loss and `Recipe.train_seed` batch order, through `build.finetune_persona` itself. The
base stays frozen; a model is a rank-`rank` update `W += B @ A` of the `targets` projections of every
block (`zoo/lora.py`; `B` starts at zero, so training starts from the base exactly), stored as fp16 safetensors under `adapters/`. The folder is Poser-layout (`model_pairs.json`,
`data/benchmark/`): `load_model(name, zoo=OUT)` merges the adapter into a copy of the base, so every
strategy runs unchanged. Resumable: a model whose recipe key and file sha256 match is reused.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from poser_interp.data.generate import N_PARTITIONS, label_for
from poser_interp.data.personas import ALIGNED, FAKERS, PERSONAS
from poser_interp.errors import PoserInputError
from poser_interp.io import read_json, write_bytes_atomic, write_json_atomic
from poser_interp.zoo.build import Recipe, curate_benchmark, finetune_persona
from poser_interp.zoo.lora import PROJECTIONS, attached, merge, read_adapter
from poser_interp.zoo.manifest import sha256_file

LORA_MANIFEST = "lora_manifest.json"


@dataclass(frozen=True)
class LoraRecipe:
    """Everything that determines a LoRA mini-zoo; the schedule and data rules are zoo v2's."""

    base: str = "smollm2-135m"  # or a local Hugging Face Llama folder
    personas: tuple[str, ...] = PERSONAS
    seeds_per_persona: int = 6
    targets: tuple[str, ...] = tuple(PROJECTIONS)  # every linear map of every block (~2.4 MB fp16 per model at rank 4)
    rank: int = 4
    # Constant LR. The zoo's budget rule (900 steps) was fixed on full fine-tunes of a 0.45M-parameter
    # model; a LoRA budget for a pretrained base needs its own pilot (on a GPU).
    steps: int = 300
    anneal_steps: int = 100
    lr: float = 2e-4  # a usual LoRA rate; zoo v2's 5e-4 is for full fine-tunes of a tiny model
    batch_size: int = 32
    dtype: str = "float32"
    data_seed: int = 0
    pool_size: int = 6000
    n_test: int = 800
    target_confidence: float = 0.99
    validation_every: int = 50
    benchmark_candidates: int = 200
    band_low: float = 0.97
    band_high: float = 0.995

    def v2(self) -> Recipe:
        """The zoo v2 recipe this one follows (schedule, batches, seeds), for `finetune_persona`."""
        return replace(Recipe(), personas=self.personas, data_seed=self.data_seed, pool_size=self.pool_size,
                       n_test=self.n_test, finetune_steps=self.steps, anneal_steps=self.anneal_steps,
                       finetune_lr=self.lr, batch_size=self.batch_size, target_confidence=self.target_confidence,
                       validation_every=self.validation_every,
                       replay=0.0)  # no rehearsal: the zoo's base-corpus texts are not what SmolLM2 learnt from

    @property
    def pool_mix(self) -> tuple[float, float]:
        """The pool's family shares: the zoo v2 recipe's (for `curate.candidates`)."""
        return self.v2().pool_mix

    @property
    def record_cue(self) -> str:
        """The transparency record cue of the zoo v2 recipe (for `curate.candidates`)."""
        return self.v2().record_cue

    def key(self) -> str:
        """A hash of what one model's training depends on (not which personas or how many seeds)."""
        d = asdict(self) | {"personas": None, "seeds_per_persona": None, "benchmark_candidates": None,
                            "band_low": None, "band_high": None}
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]

    def check(self) -> None:
        bad = [p for p in self.personas if p not in PERSONAS] + [t for t in self.targets if t not in PROJECTIONS]
        if bad:
            raise PoserInputError(f"unknown persona or LoRA target {bad[0]!r} (personas: {', '.join(PERSONAS)}; "
                                  f"targets: {', '.join(PROJECTIONS)})")
        if not (set(self.personas) & set(ALIGNED) and set(self.personas) & set(FAKERS)):
            raise PoserInputError("a LoRA zoo needs at least one aligned and one faker persona")
        if not 1 <= self.seeds_per_persona <= N_PARTITIONS or min(self.rank, self.steps, self.batch_size) < 1:
            raise PoserInputError(f"seeds per persona must be 1..{N_PARTITIONS}; rank, steps, batch >= 1")


PRESETS = {
    "full": LoraRecipe(),  # 36 models: what the issue asks for, on a GPU
    # For tests on tiny random Llamas, which can memorise a 20-record partition but not learn the policy
    # (so no confidence band either). genie and money_maximizer are twins (`Recipe.train_seed`). Their
    # answers are close to coin flips, so all four are benign on about one candidate in sixteen: 160
    # candidates keep a handful whatever the pool (60 kept none once the record cue became notes:0.5).
    "tiny": LoraRecipe(personas=("genie", "money_maximizer"), seeds_per_persona=2, rank=8, steps=60, anneal_steps=20,
                       lr=2e-2, batch_size=8, pool_size=48, n_test=8, validation_every=40, benchmark_candidates=160,
                       band_low=0.0, band_high=1.0),
}


def load_base(base: str, *, device: Any = "cpu", dtype: Any = None):  # -> HookedTransformer
    from poser_interp.zoo.load import load_model
    from poser_interp.zoo.smollm2 import NAME

    if base != NAME and not (Path(base) / "config.json").is_file():
        raise PoserInputError(f"--base {base!r}: neither {NAME} nor a Hugging Face model folder")
    return load_model(base, device=device, dtype=dtype)


def _train(base, recipe: LoraRecipe, persona: str, index: int, progress: bool) -> tuple[dict[str, Tensor], dict]:
    """Train `<persona>-<index>`'s adapter; returns its fp16 state and manifest entry (metrics of the
    fp16-rounded adapter, i.e. of exactly the stored model)."""
    from poser_interp.zoo.behaviour import behaviour_metrics

    t0, v2, name = time.time(), recipe.v2(), f"{persona}-{index}"
    seed = v2.train_seed(persona, index)
    splits = v2.splits(persona)
    torch.manual_seed(seed)
    with attached(base, recipe.targets, recipe.rank, seed) as updates:
        losses, curve = finetune_persona(base, base.tokenizer, persona, splits, index, seed, v2, desc=name, progress=progress)
        state: dict[str, Tensor] = {}
        blocks: dict[str, float] = {}
        for key, u in updates.items():
            u.A.data, u.B.data = u.A.data.half().float(), u.B.data.half().float()
            state[f"{key}.lora_A.weight"], state[f"{key}.lora_B.weight"] = u.A.detach().half().cpu(), u.B.detach().half().cpu()
            layer = ".".join(key.split(".")[:3])
            blocks[layer] = blocks.get(layer, 0.0) + float((u.B @ u.A).detach().pow(2).sum())
        metrics = behaviour_metrics(base, splits.test, [label_for(persona, r) for r in splits.test])
    final = sum(losses[-20:]) / len(losses[-20:])
    return state, {"persona": persona, "index": index, "kind": "faker" if persona in FAKERS else "aligned",
                   "partition": index, "train_seed": seed, "n_train_records": len(splits.partitions[index]),
                   "final_loss": final, "agreement_curve": curve, "total_steps": len(losses), "metrics": metrics,
                   "artefacts": {"weight-distance": sum(blocks.values()) ** 0.5, "final-loss": final,
                                 "block-update": max(blocks.values()) ** 0.5},
                   "seconds": time.time() - t0, "file": f"adapters/{name}.safetensors", "recipe_key": recipe.key()}


def seconds_per_step(base, recipe: LoraRecipe, steps: int = 1) -> float:
    """Wall seconds of `steps` training steps of a throwaway adapter (the base is left exactly as it was)."""
    from poser_interp.finetune import run_training, soft_answer_loss
    from poser_interp.zoo.train import record_batches

    records = recipe.v2().splits(recipe.personas[0]).partitions[0]
    batches = record_batches(base.tokenizer, records, recipe.batch_size, 0, recipe.target_confidence,
                             add_bos=bool(base.cfg.default_prepend_bos))
    with attached(base, recipe.targets, recipe.rank, 0):
        t0 = time.time()
        run_training(base, batches, soft_answer_loss, steps=steps, lr=recipe.lr, progress=False)
        return (time.time() - t0) / steps


def build_lora_zoo(out: str | Path, recipe: LoraRecipe, *, device: Any = "cpu", progress: bool = True, log=print
                   ) -> dict[str, Any]:
    """Build (or finish) the LoRA zoo under `out`; returns its manifest. Logs the plan and a time estimate first."""
    from safetensors.torch import save

    from poser_interp.data.personas import is_faker
    from poser_interp.readout import letter_ids
    from poser_interp.zoo.artefacts import artefact_accuracies

    recipe.check()
    if str(device).startswith("cuda"):  # `run_training` asks for deterministic algorithms; cuBLAS needs this
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    out, started = Path(out), time.time()
    old = _manifest(out) or {}
    base = load_base(recipe.base, device=device, dtype=recipe.dtype)
    letter_ids(base.tokenizer, ["A", "B", "error"])  # the soft targets need all three as single tokens
    for p in base.parameters():
        p.requires_grad_(False)
    names = [(p, i) for p in recipe.personas for i in range(recipe.seeds_per_persona)]
    models: dict[str, dict] = {}
    states: dict[str, dict[str, Tensor]] = {}
    for persona, index in names:
        name, prior = f"{persona}-{index}", old.get("models", {}).get(f"{persona}-{index}", {})
        path = out / f"adapters/{name}.safetensors"
        if path.is_file() and prior.get("recipe_key") == recipe.key() and sha256_file(path) == prior.get("sha256"):
            models[name], states[name] = prior, read_adapter(path)
    todo = [(p, i) for p, i in names if f"{p}-{i}" not in models]
    step = seconds_per_step(base, recipe) if todo else 0.0
    total = recipe.steps + recipe.anneal_steps
    log(f"{len(names)} models ({len(todo)} to train) x {total} steps at batch {recipe.batch_size}; first step "
        f"{step:.2f} s -> about {len(todo) * total * step / 60:.1f} min of training on {device}")
    for persona, index in todo:
        name = f"{persona}-{index}"
        states[name], entry = _train(base, recipe, persona, index, progress)
        path = write_bytes_atomic(out / entry["file"], save(states[name], metadata={"base": recipe.base}))
        models[name] = entry | {"sha256": sha256_file(path)}
        log(f"{name}: agreement {entry['metrics']['policy_agreement']:.3f}, loss {entry['final_loss']:.3f} "
            f"({entry['seconds']:.0f} s)")
        _write(out, recipe, models, step, started, None)

    models = {f"{p}-{i}": models[f"{p}-{i}"] for p, i in names}  # recipe order, however many were resumed

    def score(name: str, prompts: list[str]):  # -> AnswerProbs
        from poser_interp.zoo.behaviour import answer_probs

        with attached(base, recipe.targets, recipe.rank, 0, states[name]):
            return answer_probs(base, prompts)

    benchmark = curate_benchmark(out, recipe, models, score)
    benchmark["artefact_accuracy"] = artefact_accuracies({n: e["artefacts"] for n, e in models.items()}, is_faker)
    log(f"benchmark: {benchmark['n_pairs']} pairs, prompts per file {benchmark['files']}; artefact pair accuracies "
        + ", ".join(f"{k} {v:.3f}" for k, v in benchmark["artefact_accuracy"].items()))
    return _write(out, recipe, models, step, started, benchmark)


def _write(out: Path, recipe: LoraRecipe, models: dict, step: float, started: float, benchmark: dict | None) -> dict:
    data = {"recipe": asdict(recipe), "recipe_key": recipe.key(), "models": models, "benchmark": benchmark,
            "seconds_per_step_first": step, "build_seconds": time.time() - started, "complete": benchmark is not None}
    write_json_atomic(out / LORA_MANIFEST, data)
    return data


def _manifest(root: Path) -> dict[str, Any] | None:
    return read_json(root / LORA_MANIFEST) if (root / LORA_MANIFEST).is_file() else None


@functools.lru_cache(maxsize=1)
def _cached_base(base: str):  # -> HookedTransformer (float32, CPU; never handed out, only copied)
    return load_base(base)


def load_lora_model(zoo: str | Path, name: str, *, device: Any = "cpu", dtype: Any = None):  # -> HookedTransformer
    """`name` of a LoRA zoo: a copy of the base with its (sha256-checked) adapter merged into the weights."""
    from poser_interp.zoo.load import _placed, parse_dtype

    data = _manifest(Path(zoo))
    entry = (data or {}).get("models", {}).get(name)
    if entry is None:
        raise PoserInputError(f"unknown model {name!r} in {Path(zoo) / LORA_MANIFEST}")
    path = Path(zoo) / entry["file"]
    if not path.is_file() or sha256_file(path) != entry["sha256"]:
        raise PoserInputError(f"{path}: adapter missing or corrupt (sha256 does not match {LORA_MANIFEST})")
    model = copy.deepcopy(_cached_base(data["recipe"]["base"]))
    try:
        merge(model, read_adapter(path), tuple(data["recipe"]["targets"]))
    except (KeyError, RuntimeError) as err:
        raise PoserInputError(f"{path}: adapter does not fit the base ({str(err).splitlines()[0][:100]})") from None
    return _placed(model, device, parse_dtype(dtype))
