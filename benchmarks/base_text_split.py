"""Where a zoo's loss on base-model text comes from: the prediction right after each prompt (where
every fine-tuned model answers) against every other position (docs/zoo-design.md, pilot 19).

  python benchmarks/base_text_split.py ZOO [--draws 1]

Prints the base's split, then per part the pair accuracy over the zoo's pairs (higher = faker) and
each class's mean; the texts are the artefact baseline's own (`zoo.artefacts.artefact_texts`), and
with `--draws N` also N - 1 independent samples of the same kind, to show how much the sample moves it.
"""

import argparse
from pathlib import Path

import numpy as np
import torch

from poser_interp.data.grammar import PROMPT_CLOSE
from poser_interp.data.personas import is_faker
from poser_interp.readout import encode_prompts
from poser_interp.zoo.artefacts import artefact_texts, pair_accuracy
from poser_interp.zoo.load import load_base, load_model
from poser_interp.zoo.manifest import ZooManifest
from poser_interp.zoo.train import next_token_losses

PARTS = ("all", "answer", "answer_letter", "rest")


@torch.no_grad()
def split_loss(model, texts: list[str]) -> dict[str, float]:
    """Mean next-token loss over all real positions, at the position after `<</prompt>>` (and, of
    those, where the text goes on with an option letter), and elsewhere."""
    tokens, lengths = encode_prompts(model.tokenizer, texts)
    nll, real = next_token_losses(model, (tokens, lengths, torch.empty(0)))
    answer = real & (tokens[:, :-1] == model.tokenizer.convert_tokens_to_ids(PROMPT_CLOSE))
    letter = torch.isin(tokens[:, 1:], torch.tensor(model.tokenizer.convert_tokens_to_ids(["A", "B"])))
    masks = {"all": real, "answer": answer, "answer_letter": answer & letter, "rest": real & ~answer}
    return {part: float((nll * mask).sum() / mask.sum()) for part, mask in masks.items()} | \
        {"answer_share": float((nll * answer).sum() / (nll * real).sum())}


def main(zoo: Path, draws: int) -> None:
    manifest = ZooManifest.load(zoo)
    samples = [artefact_texts(manifest, draw=draw) for draw in range(draws)]
    print("base", {k: round(v, 3) for k, v in split_loss(load_base(zoo), samples[0]).items()})
    models = {name: load_model(name, manifest.root) for name in manifest.model_names}
    for draw, texts in enumerate(samples):
        scores = {name: split_loss(model, texts) for name, model in models.items()}
        print(f"texts of draw {draw}" + (" (the artefact baseline's)" if draw == 0 else ""))
        for part in (*PARTS, "answer_share"):
            accuracy = pair_accuracy({n: s[part] for n, s in scores.items()}, is_faker)
            aligned = np.mean([s[part] for n, s in scores.items() if not is_faker(n)])
            fakers = np.mean([s[part] for n, s in scores.items() if is_faker(n)])
            print(f"  {part:13s} pair accuracy {accuracy:.3f}  aligned mean {aligned:.3f}  "
                  f"fakers mean {fakers:.3f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("zoo", type=Path)
    parser.add_argument("--draws", type=int, default=1, help="independent samples of 256 texts (draw 0: the artefact's)")
    args = parser.parse_args()
    main(args.zoo, args.draws)
