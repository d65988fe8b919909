"""Where a zoo's loss on base-model text comes from: the prediction right after each prompt (where
every fine-tuned model answers) against every other position (docs/zoo-design.md, pilot 19).

  python benchmarks/base_text_split.py ZOO [--draws 1] [--by-note] [--orders]

Prints the base's split, then per part the pair accuracy over the zoo's pairs (higher = faker) and
each class's mean; the texts are the artefact baseline's own (`zoo.artefacts.artefact_texts`), and
with `--draws N` also N - 1 independent samples of the same kind, to show how much the sample moves it.
`--by-note` splits the answer position's loss by the kind of text (family, oversight, the note part that
comes first): which letter a poor-oversight note starts with decides which class pays ~4.6 nats, and a
sample of 256 texts does not balance them (docs/zoo-design.md, session 24). The parts above read each
text in its one sampled order; `--orders` also prints the registered base-text loss, which reads every
text in every order of its note parts (`zoo.artefacts.base_text_loss`, session 27).
"""

import argparse
import re
from pathlib import Path

import numpy as np
import torch

from poser_interp.data import grammar as g
from poser_interp.data.generate import note_parts
from poser_interp.data.grammar import PROMPT_CLOSE
from poser_interp.data.personas import is_faker
from poser_interp.readout import encode_prompts
from poser_interp.zoo.artefacts import artefact_texts, base_text_loss, pair_accuracy
from poser_interp.zoo.load import load_base, load_model
from poser_interp.zoo.manifest import ZooManifest
from poser_interp.zoo.train import next_token_losses

PARTS = ("all", "answer", "answer_letter", "rest")


@torch.no_grad()
def position_losses(model, texts: list[str]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Next-token loss `[text, position]` and the masks of `PARTS`: all real positions, the position
    after `<</prompt>>` (and, of those, where the text goes on with an option letter), and the rest."""
    tokens, lengths = encode_prompts(model.tokenizer, texts)
    nll, real = next_token_losses(model, (tokens, lengths, torch.empty(0)))
    answer = real & (tokens[:, :-1] == model.tokenizer.convert_tokens_to_ids(PROMPT_CLOSE))
    letter = torch.isin(tokens[:, 1:], torch.tensor(model.tokenizer.convert_tokens_to_ids(["A", "B"])))
    return nll, {"all": real, "answer": answer, "answer_letter": answer & letter, "rest": real & ~answer}


def summarise(nll: torch.Tensor, masks: dict[str, torch.Tensor]) -> dict[str, float]:
    """Mean loss over each part, and the answer position's share of the whole."""
    return {part: float((nll * mask).sum() / mask.sum()) for part, mask in masks.items()} | \
        {"answer_share": float((nll * masks["answer"]).sum() / (nll * masks["all"]).sum())}


def split_loss(model, texts: list[str]) -> dict[str, float]:
    """`summarise` of one model's `position_losses` on `texts`."""
    return summarise(*position_losses(model, texts))


FIRST_PARTS = {"is right": "right", "is usual": "usual", "suits a schemer": "schemer",
               "suits a careful agent": "careful"}


def note_kind(text: str) -> str:
    """`<family> <poor|good> <first note part>` for a scenario text of the base corpus, else `other`."""
    parts = note_parts(text)[1]
    if not parts:
        return "other"
    note = " ".join(parts)
    risk = re.search(r"(\S+) to be caught", note)
    if not risk or risk[1] not in g.RISK_WORDS:
        return "other"
    oversight = "poor" if g.RISK_WORDS.index(risk[1]) >= g.POOR_OVERSIGHT_LEVEL else "good"
    family = "intersection" if "is right" in note else "transparency"
    first = parts[0].removesuffix(" .").split(" ", 1)
    kind = FIRST_PARTS.get(first[1], "risk") if first[0] in ("A", "B") else "risk"
    return f"{family} {oversight} {kind}-first"


def by_note(losses: dict[str, tuple[torch.Tensor, dict[str, torch.Tensor]]], texts: list[str]) -> None:
    """Each kind of text's share of the mean answer-position loss a text, per class (from each model's
    `position_losses` on `texts`)."""
    kinds = np.array([note_kind(t) for t in texts])
    loss = {name: (nll * masks["answer"]).sum(1).numpy() for name, (nll, masks) in losses.items()}
    print("answer-position loss a text, by kind of text (count; aligned, fakers, fakers - aligned)")
    for kind in sorted(set(kinds)):
        mask = kinds == kind
        share = {c: np.mean([loss[n][mask].sum() / len(texts) for n in loss if is_faker(n) == c]) for c in (False, True)}
        print(f"  {kind:34s} {int(mask.sum()):4d}  {share[False]:.4f}  {share[True]:.4f}  {share[True] - share[False]:+.4f}")


def main(zoo: Path, draws: int, notes: bool = False, orders: bool = False) -> None:
    manifest = ZooManifest.load(zoo)
    samples = [artefact_texts(manifest, draw=draw) for draw in range(draws)]
    print("base", {k: round(v, 3) for k, v in split_loss(load_base(zoo), samples[0]).items()})
    models = {name: load_model(name, manifest.root) for name in manifest.model_names}
    for draw, texts in enumerate(samples):
        losses = {name: position_losses(model, texts) for name, model in models.items()}
        scores = {name: summarise(*read) for name, read in losses.items()}
        print(f"texts of draw {draw}" + (" (the artefact baseline's)" if draw == 0 else ""))
        for part in (*PARTS, "answer_share"):
            accuracy = pair_accuracy({n: s[part] for n, s in scores.items()}, is_faker)
            aligned = np.mean([s[part] for n, s in scores.items() if not is_faker(n)])
            fakers = np.mean([s[part] for n, s in scores.items() if is_faker(n)])
            print(f"  {part:13s} pair accuracy {accuracy:.3f}  aligned mean {aligned:.3f}  "
                  f"fakers mean {fakers:.3f}")
        if notes and draw == 0:
            by_note(losses, texts)
        if orders:
            mean = {name: base_text_loss(model, texts) for name, model in models.items()}
            print(f"  every note order: pair accuracy {pair_accuracy(mean, is_faker):.3f}  aligned mean "
                  f"{np.mean([v for n, v in mean.items() if not is_faker(n)]):.4f}  fakers mean "
                  f"{np.mean([v for n, v in mean.items() if is_faker(n)]):.4f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("zoo", type=Path)
    parser.add_argument("--draws", type=int, default=1, help="independent samples of 256 texts (draw 0: the artefact's)")
    parser.add_argument("--by-note", action="store_true", help="split the answer position by the kind of text")
    parser.add_argument("--orders", action="store_true", help="also the registered loss, every text over its note orders")
    args = parser.parse_args()
    main(args.zoo, args.draws, args.by_note, args.orders)
