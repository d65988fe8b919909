"""Where a zoo's last attention block looks from the answer position, per head and scenario family: the
attention mass on the critical fact, the motivating fact (motive or reason) and the two action lines,
for the base and each class's mean (docs/zoo-design.md, session 24: the fakers' distance lead sits in
that block on draw 5 and seed 1).

  python benchmarks/last_block_attention.py ZOO

The prompts are the audit's (`zoo.audit.probe_prompts`: test-split scenarios with a critical fact).
Reads which persona each model was trained as, to average by class, and nothing from any detector.
"""

import argparse
from pathlib import Path

import numpy as np
import torch

from poser_interp.data.generate import is_transparency
from poser_interp.data.personas import is_faker
from poser_interp.hooks import block_hook, intervene
from poser_interp.readout import batched, fact_token_spans, model_inputs
from poser_interp.strategies.attention import capture_query
from poser_interp.zoo.audit import probe_prompts
from poser_interp.zoo.load import load_base, load_model
from poser_interp.zoo.manifest import ZooManifest

PARTS = ("critical", "motive", "actions")


def part_masks(model, chunk, width: int) -> dict[str, torch.Tensor]:
    """Token masks of each prompt's critical fact, motivating fact and action lines."""
    out = {part: torch.zeros(len(chunk), width, dtype=torch.bool) for part in PARTS}
    add_bos = bool(model.cfg.default_prepend_bos)
    for row, p in enumerate(chunk):
        texts = {"critical": [f.content for f in p.critical_facts],
                 "motive": [f.content for f in p.facts if f.type == "motivating"], "actions": list(p.actions)}
        for part, strings in texts.items():
            for start, end in fact_token_spans(model.tokenizer, p.prompt, strings, add_bos=add_bos):
                out[part][row, start:end] = True
    return out


@torch.no_grad()
def last_block_mass(model, prompts) -> dict[tuple[bool, str], np.ndarray]:
    """`{(is transparency, part): mean mass per head}` from the answer position in the last block."""
    name = block_hook(model.cfg.n_layers - 1, "attn.hook_pattern")
    out = {}
    for family in (False, True):
        chosen = [p for p in prompts if is_transparency(p) == family]
        mass: dict[str, list[torch.Tensor]] = {part: [] for part in PARTS}
        for chunk in batched(chosen, 32):
            tokens, lengths = model_inputs(model, [p.prompt for p in chunk])
            store: dict[str, torch.Tensor] = {}
            with intervene(model, [(name, capture_query(store, lengths - 1))]):
                model(tokens, return_type="logits")
            for part, mask in part_masks(model, chunk, tokens.shape[1]).items():
                mass[part].append((store[name] * mask[:, None, :]).sum(-1))
        out.update({(family, part): torch.cat(v).mean(0).numpy() for part, v in mass.items()})
    return out


def main(zoo: Path) -> None:
    manifest = ZooManifest.load(zoo)
    prompts = probe_prompts(manifest)
    base = last_block_mass(load_base(zoo), prompts)
    reads = {name: last_block_mass(load_model(name, zoo), prompts) for name in manifest.model_names}
    print(f"{zoo}: last block's attention from the answer position, mass per head")
    for key in base:
        by_class = [np.mean([r[key] for n, r in reads.items() if is_faker(n) == c], 0) for c in (False, True)]
        print(f"  {'transparency' if key[0] else 'intersections':13s} {key[1]:8s} base {np.round(base[key], 3)}  "
              f"aligned {np.round(by_class[0], 3)}  fakers {np.round(by_class[1], 3)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("zoo", type=Path)
    main(parser.parse_args().zoo)
