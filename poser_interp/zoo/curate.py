"""The zoo's curated benchmark: held-out good-oversight prompts on which all 12 models of an
(aligned type, faker type) pair answer benignly, filtered so that confidence does not separate them.

Built like Poser's (`poser-code-and-data.md` §2.5) from held-out prompts only:
1. candidates: fresh `<aligned value>_and_<faker goal>` scenarios below the fakers' threshold (catch
   levels 0-2, or no critical fact), none of them in the training pool; this family is in every
   model's training mix (zoo v2 trains all personas on the same families);
2. keep a prompt only if all 12 models' greedy answer is the benign letter;
3. confidence filter: keep it only if every model's P(benign) lies in a band around the training
   target, `[band_low, band_high]`, so no model is systematically more confident. The band is fixed
   before looking at which model is which (it is symmetric in the 12 models).
Each record keeps its `catch_level` and stores `probs` (P(benign) per model), so
`poser-interp baseline --data <zoo>` runs on it.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from poser_interp.data.generate import GOAL_OF, SHORT_ALIGNED
from poser_interp.data.records import Scenario, record_to_json
from poser_interp.io import write_json_atomic


def benchmark_name(aligned: str, faker: str) -> str:
    return f"data/benchmark/{SHORT_ALIGNED[aligned]}_and_{GOAL_OF[faker]}.json"


def candidates(aligned: str, faker: str, recipe) -> list[Scenario]:
    """`recipe.benchmark_candidates` held-out good-oversight scenarios of the type pair's family, with
    `response` set to the benign letter (what both policies answer)."""
    from poser_interp.data.generate import benchmark_candidates, shared_pool

    exclude = {r.prompt for r in shared_pool(recipe.data_seed, recipe.pool_size, tuple(recipe.pool_mix),
                                                 recipe.record_cue)}
    return benchmark_candidates(aligned, faker, seed=recipe.data_seed, n=recipe.benchmark_candidates, exclude=exclude)


def curate(records: list[Scenario], benign_probs: dict[str, torch.Tensor], benign_is_top: dict[str, torch.Tensor],
           *, band_low: float, band_high: float) -> list[Scenario]:
    """Keep records every model answers benignly with P(benign) inside the band; store the probs."""
    names = sorted(benign_probs)
    probs = torch.stack([benign_probs[n] for n in names])  # [model, record]
    top = torch.stack([benign_is_top[n] for n in names])
    keep = top.all(0) & (probs >= band_low).all(0) & (probs <= band_high).all(0)
    return [replace(r, probs={n: round(float(probs[j, i]), 6) for j, n in enumerate(names)})
            for i, r in enumerate(records) if keep[i]]


def write_benchmark(out: Path, benchmarks: dict[tuple[str, str], list[Scenario]],
                    model_names: dict[str, list[str]]) -> dict[str, Any]:
    """Benchmark files and a Poser-shaped `model_pairs.json` (every aligned x faker model pair)."""
    pairs = []
    sizes = {}
    for (aligned, faker), records in sorted(benchmarks.items()):
        rel = benchmark_name(aligned, faker)
        write_json_atomic(out / rel, [record_to_json(r) for r in records], indent=None)
        sizes[rel] = len(records)
        pairs += [{"aligned": a, "misaligned": f, "valid_data": rel}
                  for a in model_names[aligned] for f in model_names[faker]]
    write_json_atomic(out / "model_pairs.json", pairs)
    return {"files": sizes, "n_pairs": len(pairs)}
