"""How far each persona's fine-tune labels are from what the shared base already says (zoo v2 issue:
do the fakers have more to learn?).

  python benchmarks/base_prior.py ZOO [--partition 0]

Reads the zoo's base and recipe, rebuilds one training partition (the same prompts for every persona,
only the labels differ), and prints the base's mean loss (-log p) on each persona's label per part of
the mix: intersections and transparency scenarios under good and poor oversight, error records. Equal
rows mean every class starts equally far from its target; what then differs is what each must compute.
Then, for that, how linearly the base already states each persona's answer per family (both oversight
levels together, so a flip must be read off as a whole): held-out accuracy of a logistic probe for
"the persona's answer is A" on the base's residual at the answer token after each block.
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

from poser_interp.data.generate import is_transparency, label_for
from poser_interp.data.records import ErrorRecord
from poser_interp.readout import answer_logits, answer_token_ids
from poser_interp.zoo.build import Recipe
from poser_interp.zoo.load import load_base
from poser_interp.zoo.manifest import ZooManifest


def part(record) -> str:
    if isinstance(record, ErrorRecord):
        return "error"
    family = "transparency" if is_transparency(record) else "intersection"
    return f"{family} {'poor' if record.oversight_is_poor else 'good'}"


def main(zoo: Path, partition: int) -> None:
    recipe = Recipe.from_stored(ZooManifest.load(zoo).data["recipe"])
    base = load_base(zoo)
    splits = recipe.splits(recipe.personas[0])
    records = splits.partitions[partition]
    logp = torch.log_softmax(answer_logits(base, [r.prompt for r in records]).float(), dim=-1)
    ids = answer_token_ids(base.tokenizer)
    parts = sorted({part(r) for r in records})
    print(f"{zoo}, partition {partition}: the base's loss (nats) on each persona's label, records per part "
          + ", ".join(f"{p} {sum(part(r) == p for r in records)}" for p in parts))
    for persona in recipe.personas:
        losses = defaultdict(list)
        for i, record in enumerate(records):
            losses[part(record)].append(-float(logp[i, ids[label_for(persona, record)]]))
        print(f"  {persona:18s} " + "  ".join(f"{p} {np.mean(losses[p]):.3f}" for p in parts if p != "error"))
    target_readability(base, [r for r in records if not isinstance(r, ErrorRecord)], recipe.personas)


def target_readability(base, records, personas) -> None:
    """Print, per persona and family, the held-out accuracy of a probe for 'the answer is A' after each block."""
    from sklearn.linear_model import LogisticRegression

    from poser_interp.readout import last_token_residuals

    layers = list(range(base.cfg.n_layers))
    resid = last_token_residuals(base, [r.prompt for r in records], layers, where="post")[0].numpy()
    order = np.random.default_rng(0).permutation(len(records))
    print("the base's probe for each persona's answer, held-out half, after block " + " ".join(map(str, layers)))
    for persona in personas:
        y = np.array([label_for(persona, record) == "A" for record in records])
        cells = []
        for family in ("intersection", "transparency"):
            rows = np.array([i for i in order if (family == "transparency") == is_transparency(records[i])])
            fit, held = rows[: len(rows) // 2], rows[len(rows) // 2:]
            accuracy = [LogisticRegression(max_iter=3000).fit(resid[fit, k], y[fit]).score(resid[held, k], y[held])
                        for k in range(len(layers))]
            cells.append(f"{family} " + " ".join(f"{a:.2f}" for a in accuracy))
        print(f"  {persona:18s} " + "  ".join(cells))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("zoo", type=Path)
    parser.add_argument("--partition", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    main(args.zoo, args.partition)
