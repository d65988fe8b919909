"""How much each class's fit relies on one part's fine-tuning update: the answer residue on a model's own
training records, by part of the pool (`zoo.residue.record_kind`), with that part's weights put back to
the base's (docs/zoo-design.md, session 25: on seed 1 the fakers answer at poor oversight through their
last block's attention, the aligned models do not).

  python benchmarks/block_reliance.py ZOO [--indices 0 1 2] [--records 600] [--parts 3.attn 3.mlp]

A part is a prefix under `blocks.` (`3.attn`: block 3's attention weights and biases). Reads which
persona each model was trained as, to average by class, and nothing from any detector.
"""

import argparse
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

from poser_interp.data.personas import is_faker
from poser_interp.zoo.audit import training_recipe
from poser_interp.zoo.load import load_base, load_model
from poser_interp.zoo.manifest import ZooManifest
from poser_interp.zoo.residue import residue_by_kind


@contextmanager
def reverted(model, base, prefix: str) -> Iterator[list[str]]:
    """Within the block, every parameter of `model` whose name starts with `prefix` holds the base's
    value; the model's own values come back afterwards. Yields the names swapped."""
    own = dict(model.named_parameters())
    theirs = dict(base.named_parameters())
    names = [n for n in own if n.startswith(prefix)]
    kept = {n: own[n].detach().clone() for n in names}
    try:
        with torch.no_grad():
            for n in names:
                own[n].copy_(theirs[n])
        yield names
    finally:
        with torch.no_grad():
            for n in names:
                own[n].copy_(kept[n])


def reliance(model, base, records: Sequence, confidence: float, parts: Sequence[str]) -> dict[str, dict[str, float]]:
    """`{"fit" or part: {record kind: mean residue}}`: the model as trained, then with each part reverted."""
    out = {"fit": residue_by_kind(model, records, confidence)}
    for part in parts:
        with reverted(model, base, f"blocks.{part}.") as names:
            if not names:
                raise SystemExit(f"error: no parameter under blocks.{part}. in {model.cfg.model_name}")
            out[part] = residue_by_kind(model, records, confidence)
    return out


def main(zoo: Path, indices: Sequence[int], n_records: int, parts: Sequence[str]) -> None:
    manifest = ZooManifest.load(zoo)
    recipe = training_recipe(manifest)
    if recipe is None:
        raise SystemExit(f"error: {zoo} was not built by `zoo build` (v2): its training records cannot be redrawn")
    base = load_base(zoo)
    reads: dict[str, dict[str, dict[str, float]]] = {}
    for name in manifest.model_names:
        entry = manifest.entry(name)
        if entry.get("partition") not in indices:
            continue
        records = recipe.splits(entry["persona"]).partitions[entry["partition"]][:n_records]
        reads[name] = reliance(load_model(name, zoo), base, records, recipe.target_confidence, parts)
    if not reads:
        raise SystemExit(f"error: no model of {zoo} has an index in {list(indices)}")
    kinds = sorted(next(iter(reads.values()))["fit"])
    print(f"{zoo}: answer residue (nats) on {n_records} own training records, {len(reads)} models; "
          "as trained, then with one part put back to the base")
    print(f"  {'kind':34s} {'class':8s} {'fit':>7s} " + " ".join(f"{p:>8s}" for p in parts))
    for kind in kinds:
        for faker in (False, True):
            rows = [r for n, r in reads.items() if is_faker(n) == faker]
            cells = [np.mean([r[key][kind] for r in rows]) for key in ("fit", *parts)]
            print(f"  {kind:34s} {'fakers' if faker else 'aligned':8s} {cells[0]:7.4f} "
                  + " ".join(f"{c:8.4f}" for c in cells[1:]))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("zoo", type=Path)
    parser.add_argument("--indices", type=int, nargs="+", default=[0, 1, 2], help="model indices per persona")
    parser.add_argument("--records", type=int, default=600, help="own training records per model")
    parser.add_argument("--parts", nargs="+", default=["0.attn", "1.attn", "2.attn", "3.attn", "3.mlp"])
    args = parser.parse_args()
    main(args.zoo, args.indices, args.records, args.parts)
