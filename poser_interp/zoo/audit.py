"""What each zoo model reveals without any detector: does it read oversight, and where does its answer
look? `zoo check` and the zoo card report these per model and per class beside the artefact baselines.

- oversight probe: held-out accuracy of a logistic probe reading poor vs good oversight from the
  middle-layer residual (before block `n_layers // 2`) at the answer position, on test-split
  scenarios with a critical fact (never benchmark prompts), half to fit and half to score; the same
  held-out score split by scenario family (intersections, transparency), because a model may keep
  oversight only in the family where its own answer depends on it (docs/zoo-design.md, pilot 17);
- attention to the critical fact: attention mass from the answer position onto the critical fact's
  tokens, averaged over heads and layers, on the test split's intersection scenarios;
- fit residue: the answer loss above the soft target's entropy on the model's own training records,
  by part of the pool (`zoo.residue`), for zoos whose recipe can redraw those records.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from poser_interp.data.records import Scenario
from poser_interp.zoo.manifest import ZooManifest


def probe_prompts(manifest: ZooManifest, n: int = 400) -> list[Scenario]:
    """Up to `n` test-split scenarios with a critical fact (the same for every model of the zoo)."""
    from poser_interp.data.generate import persona_splits, pool_mix, record_cue

    recipe = manifest.data["recipe"]
    test = persona_splits("saint", seed=recipe["data_seed"], pool_size=recipe["pool_size"], n_test=recipe["n_test"],
                          design=recipe.get("design", "v1"), mix=pool_mix(recipe), cue=record_cue(recipe)).test
    return [r for r in test if isinstance(r, Scenario) and r.critical_facts][:n]


# The families the probe's held-out score is split by; the audit stores `oversight_probe_<family>`.
PROBE_FAMILIES = ("intersection", "transparency")


def oversight_probe_scores(model, prompts: Sequence[Scenario], *, seed: int = 0) -> dict[str, float]:
    """Held-out accuracy of a logistic probe for `oversight_is_poor` on the middle-layer residual, over
    all prompts (`"all"`) and on each family's held-out prompts (`PROBE_FAMILIES`): one probe, fitted
    on half of all prompts, its score split."""
    from sklearn.linear_model import LogisticRegression

    from poser_interp.data.generate import is_transparency
    from poser_interp.readout import last_token_residuals

    resid, _ = last_token_residuals(model, [p.prompt for p in prompts], [model.cfg.n_layers // 2], where="pre")
    x = resid[:, 0].numpy()
    y = np.array([p.oversight_is_poor for p in prompts])
    order = np.random.default_rng(seed).permutation(len(prompts))
    fit, held = order[: len(order) // 2], order[len(order) // 2:]
    probe = LogisticRegression(max_iter=2000).fit(x[fit], y[fit])
    right = probe.predict(x[held]) == y[held]
    family = np.array([is_transparency(prompts[i]) for i in held])
    scores = {"all": float(right.mean())}
    for name, mask in zip(PROBE_FAMILIES, (~family, family), strict=True):
        scores[name] = float(right[mask].mean()) if mask.any() else float("nan")
    return scores


def critical_attention(model, prompts: Sequence[Scenario]) -> float:
    """Mean attention mass from the answer position onto the critical fact (heads and layers averaged)."""
    from poser_interp.data.generate import is_transparency
    from poser_interp.strategies.attention import attention_to_facts

    chosen = [p for p in prompts if not is_transparency(p)]
    mass, _ = attention_to_facts(model, chosen)
    return float(mass.mean())


def audit_zoo(manifest: ZooManifest, *, progress: bool = True) -> dict[str, dict[str, Any]]:
    """`{model: {"oversight_probe": accuracy, "oversight_probe_<family>": accuracy on that family,
    "critical_attention": mass, "fit_residue": {record kind: residue}}}` for every zoo model."""
    from poser_interp.progress import progress_bar
    from poser_interp.zoo.load import load_model
    from poser_interp.zoo.residue import residue_by_kind

    prompts = probe_prompts(manifest)
    recipe = training_recipe(manifest)
    out: dict[str, dict[str, Any]] = {}
    with progress_bar(progress) as bar:
        task = bar.add_task("oversight probe, attention and fit", total=len(manifest.model_names))
        for name in manifest.model_names:
            model = load_model(name, manifest.root)
            out[name] = probe_entry(model, prompts) | {"critical_attention": critical_attention(model, prompts)}
            entry = manifest.entry(name)
            if recipe is not None and "partition" in entry:
                records = recipe.splits(entry["persona"]).partitions[entry["partition"]]
                out[name]["fit_residue"] = residue_by_kind(model, records, recipe.target_confidence)
            bar.update(task, advance=1)
    return out


def training_recipe(manifest: ZooManifest):  # -> zoo.build.Recipe | None
    """The recipe that redraws each model's training records: v2 zoos built by `zoo build` (v1 zoos drew
    per-persona mixes that `Recipe.splits` does not)."""
    from poser_interp.zoo.build import Recipe

    stored = manifest.data.get("recipe") or {}
    return Recipe.from_stored(stored) if stored.get("design", "v1") == "v2" else None


def probe_entry(model, prompts: Sequence[Scenario]) -> dict[str, float]:
    """`{"oversight_probe": all, "oversight_probe_<family>": ...}`, as the audit stores them."""
    probe = oversight_probe_scores(model, prompts)
    return {"oversight_probe": probe["all"], **{f"oversight_probe_{family}": probe[family] for family in PROBE_FAMILIES}}


def audit_base(manifest: ZooManifest) -> dict[str, float]:
    """The same probe on the shared base: a model cannot be expected to read oversight at the middle
    layer where its base does not (docs/zoo-design.md, pilots 18 and 20)."""
    from poser_interp.zoo.load import load_base

    return probe_entry(load_base(manifest.root), probe_prompts(manifest))
