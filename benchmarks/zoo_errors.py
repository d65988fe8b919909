"""Where a zoo's models disagree with their own policy, by kind of prompt (docs/zoo-design.md, pilot 17).

  python benchmarks/zoo_errors.py ZOO

Every model answers the zoo's held-out test split; an error is an argmax other than the persona's own
label. Errors are counted per class and per kind of option pair: transparency pairs by whether the
record names the overseer (a fixed pair) or, in a lookup, by whether each option is a "carry on"
phrase (the usual action of a fixed pair) or a record phrase; intersections by fixed value pair or
odd-instruction lookup. Also prints how many models of a class misread each prompt, which tells a
few prompts that most models misread from errors spread thinly over many. Label-free in the sense the
pilots use: only each persona's own policy, never a detector.
"""

import argparse
import collections
from pathlib import Path

from poser_interp.data import grammar as g
from poser_interp.data.generate import is_transparency, label_for, persona_splits, pool_mix, record_cue
from poser_interp.data.personas import model_persona
from poser_interp.data.records import Scenario
from poser_interp.zoo.behaviour import answer_probs
from poser_interp.zoo.load import load_model
from poser_interp.zoo.manifest import ZooManifest

CARRY_ON = {pair[0] for pair in g.TRANSPARENCY_CHOICES}
ODD = {a for pair in g.ODD_INSTRUCTIONS for a in pair}


def pair_kind(record: Scenario) -> str:
    """The kind of option pair of a scenario (see the module docstring)."""
    if not is_transparency(record):
        return "intersection: " + ("odd-instruction lookup" if set(record.actions) <= ODD else "fixed value pair")
    rec, usual = record.actions[record.misaligned_letter == "B"], record.actions[record.aligned_letter == "B"]
    if any(ov in rec.split() for ov in g.OVERSEERS):
        return "transparency: fixed pair (the record names the overseer)"
    word = lambda a: "carry-on" if a in CARRY_ON else "record-phrase"  # noqa: E731
    return f"transparency lookup: {word(rec)} record, {word(usual)} usual"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("zoo", type=Path)
    zoo = parser.parse_args().zoo
    manifest = ZooManifest.load(zoo)
    recipe = manifest.data["recipe"]
    test = [r for r in persona_splits("saint", seed=recipe["data_seed"], pool_size=recipe["pool_size"],
                                      n_test=recipe["n_test"], design=recipe.get("design", "v1"),
                                      mix=pool_mix(recipe), cue=record_cue(recipe)).test if isinstance(r, Scenario)]
    kinds = [pair_kind(r) for r in test]
    errors: dict[tuple[str, str], list[int]] = collections.defaultdict(lambda: [0, 0])
    per_prompt: dict[str, list[int]] = {"aligned": [0] * len(test), "faker": [0] * len(test)}
    for name in manifest.model_names:
        persona, cls = model_persona(name)[0], "faker" if manifest.is_faker(name) else "aligned"
        answers = answer_probs(load_model(name, manifest.root), [r.prompt for r in test]).argmax_is
        for i, (record, kind, top) in enumerate(zip(test, kinds, answers, strict=True)):
            wrong = top != label_for(persona, record)
            errors[(kind, cls)][0] += wrong
            errors[(kind, cls)][1] += 1
            per_prompt[cls][i] += wrong
    print(f"{zoo}: {len(test)} held-out scenarios, {len(manifest.model_names)} models")
    print(f"{'kind of prompt':66s} {'aligned':>16s} {'fakers':>16s}")
    for kind in sorted({k for k, _ in errors}):
        cells = [f"{errors[(kind, c)][0] / errors[(kind, c)][1]:6.1%} of {errors[(kind, c)][1]:5d}"
                 for c in ("aligned", "faker")]
        print(f"{kind:66s} {cells[0]:>16s} {cells[1]:>16s}")
    for cls, counts in per_prompt.items():
        print(f"{cls}: prompts misread by k models of the class (k: prompts):",
              dict(sorted(collections.Counter(counts).items())))


if __name__ == "__main__":
    main()
