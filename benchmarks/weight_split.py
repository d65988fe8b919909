"""Where in the weights a zoo's two classes moved differently from the base (zoo v2 issue: the
weight-distance and block-update artefacts), part by part.

  python benchmarks/weight_split.py ZOO [ZOO ...]

For each part of the model (`block<i>.attn`, `.mlp`, `.ln`, and the embeddings and final norm) prints
each class's mean L2 update from the shared base and the pair accuracy of that part's update alone
(higher = faker, over the zoo's pairs), then the same for the blocks added up in halves. Reads only
the saved weights; the labels enter only the class split of the report, as in `zoo check`.

When the manifest holds the fine-tunes' `update_curve` (builds since session 19), it then prints when
the gap opens: at every agreement check, each class's mean distance and largest block update, the
faker gap in units of the standard deviation over all models, each score's pair accuracy, and the mean
distance gap between twins (a faker and the aligned model that saw the same batches, `twin_pairs`).

Last, the path every fine-tune takes (session 28): each model's update projected on the mean update of
all the zoo's models, per class, its pair accuracy, and the faker-minus-aligned gap of that projection
part by part (the parts add up to the whole).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from poser_interp.data.personas import twin_pairs
from poser_interp.zoo.artefacts import chance_band, pair_accuracy, part_of, update_groups
from poser_interp.zoo.load import load_base, load_model
from poser_interp.zoo.manifest import ZooManifest


def report(zoo: Path) -> dict[str, tuple[float, float, float]]:
    """Print the table; return it as {part: (aligned mean, faker mean, pair accuracy)}."""
    manifest = ZooManifest.load(zoo)
    base = {k: v.detach().clone() for k, v in load_base(zoo).named_parameters()}
    groups = {name: update_groups(load_model(name, manifest.root), base) for name in manifest.model_names}
    parts = sorted(next(iter(groups.values())))
    n_blocks = 1 + max(int(p[5:].split(".")[0]) for p in parts if p.startswith("block"))
    halves = {f"blocks {lo}-{hi - 1}": [p for p in parts if p.startswith("block") and lo <= int(p[5:].split(".")[0]) < hi]
              for lo, hi in ((0, n_blocks // 2), (n_blocks // 2, n_blocks)) if n_blocks > 1}
    aligned = [n for n in groups if not manifest.is_faker(n)]
    low, high = chance_band(len(aligned), len(groups) - len(aligned))
    print(f"{zoo}: {len(aligned)} aligned, {len(groups) - len(aligned)} fakers; no-information band [{low:.2f}, {high:.2f}]")
    print(f"  {'part':18s} {'aligned':>8s} {'fakers':>8s} {'pair acc':>8s}")
    rows = [(p, [p]) for p in parts if max(g[p] for g in groups.values()) > 0] + list(halves.items())
    rows.append(("whole model", parts))
    table = {}
    for label, members in rows:
        norms = {n: sum(g[p] for p in members) ** 0.5 for n, g in groups.items()}
        mean = lambda names: float(np.mean([norms[n] for n in names]))  # noqa: E731
        fakers = [n for n in norms if manifest.is_faker(n)]
        table[label] = (mean(aligned), mean(fakers), pair_accuracy(norms, manifest.is_faker))
        print(f"  {label:18s} {table[label][0]:8.3f} {table[label][1]:8.3f} {table[label][2]:8.3f}")
    curves(manifest)
    along_shared_path(zoo)
    return table


def along_shared_path(zoo: Path) -> tuple[dict[str, float], dict[str, float]]:
    """Each model's update from the base projected on the mean update of all the zoo's models (the path
    every fine-tune takes, whatever its persona); prints the class means, the projection's pair accuracy
    and the faker-minus-aligned gap of the class means part by part. Returns (projection per model, gap
    per part)."""
    manifest = ZooManifest.load(zoo)
    base = {k: v.detach().clone() for k, v in load_base(zoo).named_parameters()}
    updates = {name: {k: p.detach().float() - base[k].float() for k, p in load_model(name, manifest.root).named_parameters()}
               for name in manifest.model_names}
    shared = {k: torch.stack([u[k] for u in updates.values()]).mean(0) for k in base}
    norm = float(torch.sqrt(sum((s ** 2).sum() for s in shared.values())))
    along = {n: {k: float((u[k] * shared[k]).sum()) / norm for k in base} for n, u in updates.items()}
    projection = {n: sum(parts.values()) for n, parts in along.items()}
    fakers = [n for n in projection if manifest.is_faker(n)]
    aligned = [n for n in projection if not manifest.is_faker(n)]
    gap: dict[str, float] = {}
    for k in base:
        gap[part_of(k)] = gap.get(part_of(k), 0.0) + float(np.mean([along[n][k] for n in fakers])
                                                           - np.mean([along[n][k] for n in aligned]))
    print(f"  along the shared path (|mean update of all {len(projection)} models| {norm:.3f}): aligned "
          f"{np.mean([projection[n] for n in aligned]):.4f}, fakers {np.mean([projection[n] for n in fakers]):.4f}, "
          f"gap {sum(gap.values()):+.4f}, pair accuracy {pair_accuracy(projection, manifest.is_faker):.3f}; gap by part: "
          + ", ".join(f"{p} {v:+.4f}" for p, v in sorted(gap.items(), key=lambda item: -abs(item[1])) if abs(v) >= 5e-4))
    return projection, gap


def curves(manifest: ZooManifest) -> None:
    """The distance and block-update artefacts along training, from the manifest's `update_curve`s."""
    entries = {n: manifest.entry(n).get("update_curve") for n in manifest.model_names}
    if not all(entries.values()):
        return
    twins = twin_pairs(entries)
    print(f"  {'step':>6s} {'distance: aligned':>18s} {'fakers':>8s} {'gap/sd':>7s} {'pair acc':>8s}"
          f" {'block: aligned':>18s} {'fakers':>8s} {'gap/sd':>7s} {'pair acc':>8s}"
          f"   twin gap in distance (faker further, of {len(twins)})")
    for step in sorted(next(iter(entries.values())), key=int):  # stored as JSON keys, sorted as text
        cells = []
        for k in (0, 1):
            scores = {n: curve[step][k] for n, curve in entries.items()}
            fakers = [v for n, v in scores.items() if manifest.is_faker(n)]
            aligned = [v for n, v in scores.items() if not manifest.is_faker(n)]
            gap = (np.mean(fakers) - np.mean(aligned)) / (np.std(list(scores.values())) or 1.0)
            cells.append(f"{np.mean(aligned):18.4f} {np.mean(fakers):8.4f} {gap:+7.2f} "
                         f"{pair_accuracy(scores, manifest.is_faker):8.3f}")
        twin_gaps = [entries[f][step][0] - entries[a][step][0] for f, a in twins]
        if twin_gaps:
            cells.append(f"  {np.mean(twin_gaps):+.4f} ({sum(g > 0 for g in twin_gaps)})")
        print(f"  {step:>6s} " + " ".join(cells))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("zoo", type=Path, nargs="+")
    torch.set_num_threads(1)
    for zoo in parser.parse_args().zoo:
        report(zoo)
