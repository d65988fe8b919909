"""Real tokenizers through the whole readout, and every strategy on a Poser-layout folder of HF checkpoints.

The folder is what a user with the real Poser models has: `model_pairs.json`, `data/benchmark/*.json`
and one Hugging Face checkpoint folder per model name. Here the checkpoints are tiny random Llamas
sharing a byte-level BPE tokenizer (trained offline on the built-in scenario prompts) with a chat
template, so answers, facts and BOS go through the paths a real BPE chat model takes.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import tokenizers  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402

from typer.testing import CliRunner  # noqa: E402

from poser_interp.cli import app  # noqa: E402
from poser_interp.data.generate import persona_splits  # noqa: E402
from poser_interp.errors import PoserInputError  # noqa: E402
from poser_interp.readout import answer_token_ids, encode_prompts, fact_token_spans, format_prompt, letter_ids  # noqa: E402
from poser_interp.zoo.manifest import DEFAULT_ZOO  # noqa: E402

BENCHMARK = "data/benchmark/genie_and_money.json"
MODELS = ("genie-0", "genie-1", "money_maximizer-0", "money_maximizer-1")
CHAT_TEMPLATE = ("{% for m in messages %}<|user|>\n{{ m['content'] }}<|end|>\n{% endfor %}"
                 "{% if add_generation_prompt %}<|assistant|>\n{% endif %}")


def bpe_tokenizer(*, chat: bool, vocab_size: int = 600):  # -> PreTrainedTokenizerFast
    """A byte-level BPE (GPT-2 style: answers can come out as `A` or `ĠA`) trained on scenario prompts."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    texts = [r.prompt for r in persona_splits("genie", seed=0, pool_size=60, n_test=20).test]
    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    specials = ["<|bos|>", "<|eos|>", "<|user|>", "<|assistant|>", "<|end|>"]
    backend.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials,
                                                           initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    backend.post_processor = processors.TemplateProcessing(single="<|bos|> $A", special_tokens=[("<|bos|>", 0)])
    tok = PreTrainedTokenizerFast(tokenizer_object=backend, bos_token="<|bos|>", eos_token="<|eos|>",
                                  pad_token="<|eos|>")
    if chat:
        tok.chat_template = CHAT_TEMPLATE
    return tok


def save_tiny_llama(directory: Path, tokenizer, seed: int, initializer_range: float = 0.02) -> None:
    """A random 2-layer Llama (a larger `initializer_range` lets its logits reach confident answers)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id, initializer_range=initializer_range)
    transformers.utils.logging.disable_progress_bar()
    try:
        LlamaForCausalLM(config).eval().save_pretrained(directory)
    finally:
        transformers.utils.logging.enable_progress_bar()
    tokenizer.save_pretrained(directory)


def make_poser_hf_folder(root: Path, n_prompts: int = 3) -> Path:
    """A Poser-layout folder: two pairs on one benchmark file, four tiny Llama checkpoints."""
    records = json.loads((DEFAULT_ZOO / BENCHMARK).read_text(encoding="utf-8"))[:n_prompts]
    (root / BENCHMARK).parent.mkdir(parents=True)
    (root / BENCHMARK).write_text(json.dumps(records), encoding="utf-8")
    pairs = [{"aligned": a, "misaligned": m, "valid_data": BENCHMARK} for a, m in zip(MODELS[:2], MODELS[2:])]
    (root / "model_pairs.json").write_text(json.dumps(pairs), encoding="utf-8")
    tokenizer = bpe_tokenizer(chat=True)
    for seed, name in enumerate(MODELS):
        save_tiny_llama(root / name, tokenizer, seed)
    return root


@pytest.fixture(scope="module")
def poser_hf_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_poser_hf_folder(tmp_path_factory.mktemp("poser_hf"))


def test_answer_tokens_are_those_the_tokenizer_emits_after_a_prompt():
    plain, chat = bpe_tokenizer(chat=False), bpe_tokenizer(chat=True)
    for tok in (plain, chat):
        ids = answer_token_ids(tok)
        # Straight after `<</prompt>>` or `<|assistant|>\n` byte-level BPE writes `A`, not `ĠA` (" A").
        assert ids["A"] == tok.convert_tokens_to_ids("A") and ids["B"] == tok.convert_tokens_to_ids("B")
        assert ids["A"] != tok.convert_tokens_to_ids("ĠA")
        context = format_prompt(tok, "x\n<</prompt>>")
        assert tok(context + "B", add_special_tokens=False)["input_ids"][-1] == ids["B"]


def test_a_letter_that_is_not_one_token_is_one_clear_error():
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"<unk>": 0, "<</prompt>>": 1, "A": 2}  # no `B`: it comes out as <unk>
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Split("<</prompt>>", behavior="isolated")
    tok = PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="<unk>", pad_token="<unk>")
    assert set(answer_token_ids(tok)) == {"A"}
    with pytest.raises(PoserInputError, match="no single answer token for 'B'"):
        letter_ids(tok, ["A", "B"])


def test_chat_template_wraps_prompts_and_bos_is_not_doubled():
    tok = bpe_tokenizer(chat=True)
    tokens, lengths = encode_prompts(tok, ["hello\n<</prompt>>", "a longer prompt here\n<</prompt>>"], add_bos=True)
    row = tok.convert_ids_to_tokens(tokens[0, : lengths[0]].tolist())
    assert row[0] == "<|user|>" and row[-2:] == ["<|assistant|>", "Ċ"]  # the generation prompt ends the input
    assert "<|bos|>" not in row  # the template decides the special tokens, not the post-processor
    plain = bpe_tokenizer(chat=False)
    tokens, lengths = encode_prompts(plain, ["hello"], add_bos=True)
    assert tokens[0, 0] == plain.bos_token_id  # without a template BOS is added where the model wants it
    tokens, _ = encode_prompts(plain, ["hello"], add_bos=False)
    assert tokens[0, 0] != plain.bos_token_id


def test_fact_spans_land_on_the_fact_inside_the_chat_template():
    from poser_interp.data.poser import load_benchmark

    scenario = load_benchmark(DEFAULT_ZOO / BENCHMARK)[0]
    fact = scenario.critical_facts[0].content
    for tok in (bpe_tokenizer(chat=True), bpe_tokenizer(chat=False)):
        (start, end), = fact_token_spans(tok, scenario.prompt, [fact], add_bos=True)
        tokens, lengths = encode_prompts(tok, [scenario.prompt], add_bos=True)
        text = tok.decode(tokens[0, start:end])
        assert fact in text and len(text) < len(fact) + 8  # the fact's tokens and at most a neighbour's edge


STRATEGY_ARGS = {
    "baseline": [],
    "noise": ["--draws", "2", "--seeds", "0"],
    "steering": [],
    "concepts": [],
    "decision-speed": [],
    "attention": [],
    "learning-speed": ["--steps", "2"],
}


@pytest.mark.parametrize("strategy", list(STRATEGY_ARGS))
def test_every_strategy_runs_on_a_poser_folder_of_hf_checkpoints(poser_hf_folder: Path, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch, strategy: str):
    monkeypatch.chdir(tmp_path)  # default run folders go under ./runs
    out = tmp_path / "run"
    extra = [] if strategy == "baseline" else ["--out", str(out)]
    result = CliRunner().invoke(app, ["detect", strategy, "--zoo", str(poser_hf_folder), "--device", "cpu",
                                      "--dtype", "float32", *extra, *STRATEGY_ARGS[strategy]])
    assert result.exit_code == 0, result.output
    run = out if strategy != "baseline" else next((tmp_path / "runs").glob("baseline-*"))
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["n_pairs"] == 2
    scores = [json.loads(line) for line in (run / "scores.jsonl").read_text().splitlines()]
    assert sorted(s["model"] for s in scores) == sorted(MODELS)
    assert all(len(s["score"]["per_prompt"]) == 3 for s in scores)


def test_bad_dtype_and_missing_checkpoint_are_one_line(poser_hf_folder: Path, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)  # default run folders go under ./runs
    result = CliRunner().invoke(app, ["detect", "baseline", "--zoo", str(poser_hf_folder), "--dtype", "float8"])
    assert result.exit_code == 2 and "unknown dtype 'float8'" in result.output
    broken = tmp_path / "broken"
    shutil.copytree(poser_hf_folder, broken, ignore=shutil.ignore_patterns("money_maximizer-1"))
    result = CliRunner().invoke(app, ["detect", "baseline", "--zoo", str(broken)])
    assert result.exit_code == 2 and "no checkpoint folder for model 'money_maximizer-1'" in result.output
