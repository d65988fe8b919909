"""The zoo's word-level tokenizer, built from the generator's closed vocabulary.

`A`, `B` and `error` are single tokens. Models see it through a `transformers` wrapper saved beside
the checkpoints, so TransformerLens's `to_tokens`/`to_str_tokens` work on zoo models too.
"""

from __future__ import annotations

from tokenizers import Regex, Tokenizer, models, pre_tokenizers

from poser_interp.data.generate import TOKEN_PATTERN, vocabulary

SPECIAL_TOKENS = ("<pad>", "<unk>", "<bos>")


def build_tokenizer(notes: str = "schemer") -> Tokenizer:
    """A WordLevel tokenizer over the specials plus every word type the grammar can produce (for a
    base corpus with `notes`, see `data.generate.pretraining_corpus`)."""
    words = list(SPECIAL_TOKENS) + vocabulary(notes)
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.WhitespaceSplit(),
        pre_tokenizers.Split(Regex(TOKEN_PATTERN), behavior="isolated"),
    ])
    return tok


def as_hf_tokenizer(tok: Tokenizer):  # -> transformers.PreTrainedTokenizerFast
    """Wrap for TransformerLens (`model.to_tokens`, `to_str_tokens`); right padding, no BOS."""
    from transformers import PreTrainedTokenizerFast

    hf = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", unk_token="<unk>", bos_token="<bos>",
                                 eos_token="<pad>")
    hf.padding_side = "right"
    return hf
