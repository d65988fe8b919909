"""load_hf_model: a tiny local Llama gives the same logits in TransformerLens as in transformers."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")

from poser_interp.errors import PoserInputError  # noqa: E402
from poser_interp.zoo.hf import load_hf_model  # noqa: E402

WORDS = "the a cat dog sat on mat is was not here there honest lie".split()
SENTENCES = ["the cat sat on the mat", "a dog was not here is honest lie there"]


def _save_tokenizer(directory: Path) -> None:
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2, "<pad>": 3}
    vocab.update({word: 4 + i for i, word in enumerate(WORDS)})
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        unk_token="<unk>",
    ).save_pretrained(directory)


def _save_llama(directory: Path, **overrides: object):
    from transformers import LlamaConfig, LlamaForCausalLM

    settings: dict[str, object] = dict(
        vocab_size=64,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=64,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=3,
    )
    settings.update(overrides)
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(**settings)).eval()
    with torch.no_grad():
        # Random init leaves norms at 1 and biases at 0, and its small q/k weights make attention
        # nearly uniform; perturb and sharpen so wrong norms, biases or rotary settings show up.
        for name, param in model.named_parameters():
            if name.endswith("norm.weight") or name.endswith(".bias"):
                param.add_(0.1 * torch.randn_like(param))
            if name.endswith(("q_proj.weight", "k_proj.weight")):
                param.mul_(10.0)
    hf_logging = transformers.utils.logging
    hf_logging.disable_progress_bar()  # "Writing model shards" bar
    try:
        model.save_pretrained(directory)
    finally:
        hf_logging.enable_progress_bar()
    _save_tokenizer(directory)
    return model


@pytest.fixture(scope="module")
def gqa_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("llama_gqa")
    _save_llama(directory)
    return directory


def _max_logit_diff(directory: Path, hf_model) -> float:
    model = load_hf_model(directory)
    worst = 0.0
    for sentence in SENTENCES:
        tokens = model.to_tokens(sentence)  # prepends <s>
        assert tokens[0, 0].item() == 1
        assert (tokens != 0).all(), "every test word is in the vocabulary"
        with torch.no_grad():
            ours = model(tokens)
            theirs = hf_model(tokens).logits
        assert ours.shape == theirs.shape
        worst = max(worst, (ours - theirs).abs().max().item())
    return worst


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({}, id="gqa-2kv"),
        pytest.param(
            {"num_key_value_heads": 4, "tie_word_embeddings": True, "attention_bias": True},
            id="mha-tied-bias",
        ),
        pytest.param(
            {
                "rope_parameters": {
                    "rope_type": "llama3",
                    "rope_theta": 500000.0,
                    "factor": 8.0,
                    "low_freq_factor": 1.0,
                    "high_freq_factor": 4.0,
                    "original_max_position_embeddings": 16,
                }
            },
            id="llama3-rope",
        ),
    ],
)
def test_logits_match_transformers(tmp_path: Path, overrides: dict[str, object]) -> None:
    hf_model = _save_llama(tmp_path, **overrides)
    diff = _max_logit_diff(tmp_path, hf_model)
    print(f"max abs logit diff {overrides or 'gqa'}: {diff:.3g}")
    assert diff < 1e-4


def test_config_fields(gqa_dir: Path) -> None:
    model = load_hf_model(gqa_dir)
    cfg = model.cfg
    assert (cfg.d_model, cfg.d_head, cfg.n_heads, cfg.n_key_value_heads) == (32, 8, 4, 2)
    assert (cfg.d_mlp, cfg.n_layers, cfg.n_ctx, cfg.d_vocab) == (64, 2, 64, 64)
    assert cfg.normalization_type == "RMS" and cfg.positional_embedding_type == "rotary"
    assert cfg.gated_mlp and cfg.final_rms and not cfg.rotary_adjacent_pairs
    assert cfg.rotary_base == 10000.0 and cfg.eps == 1e-6 and not cfg.use_NTK_by_parts_rope
    assert model.tokenizer is not None and model.to_str_tokens("the cat")[1:] == ["the", "cat"]


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def _expect_error(path: Path, *fragments: str) -> str:
    with pytest.raises(PoserInputError) as info:
        load_hf_model(path)
    message = str(info.value)
    assert "\n" not in message
    assert str(path) in message
    for fragment in fragments:
        assert fragment in message
    return message


def test_missing_directory(tmp_path: Path) -> None:
    _expect_error(tmp_path / "nowhere", "does not exist")


def test_no_config(tmp_path: Path) -> None:
    _expect_error(tmp_path, "no config.json")


def test_not_llama(tmp_path: Path, gqa_dir: Path) -> None:
    bad = _copy(gqa_dir, tmp_path / "gpt2")
    (bad / "config.json").write_text(
        json.dumps({"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"]})
    )
    _expect_error(bad, "not Llama")


def test_unsupported_rope_scaling(tmp_path: Path, gqa_dir: Path) -> None:
    bad = _copy(gqa_dir, tmp_path / "yarn")
    config = json.loads((bad / "config.json").read_text())
    config["rope_parameters"] = {"rope_type": "linear", "factor": 2.0, "rope_theta": 10000.0}
    (bad / "config.json").write_text(json.dumps(config))
    _expect_error(bad, "unsupported rope scaling", "linear")


def test_no_tokenizer(tmp_path: Path, gqa_dir: Path) -> None:
    bad = _copy(gqa_dir, tmp_path / "untokenized")
    (bad / "tokenizer.json").unlink()
    _expect_error(bad, "no tokenizer files")


def test_truncated_weights(tmp_path: Path, gqa_dir: Path) -> None:
    bad = _copy(gqa_dir, tmp_path / "truncated")
    weights = bad / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    _expect_error(bad, "cannot load weights")


def test_no_weights(tmp_path: Path, gqa_dir: Path) -> None:
    bad = _copy(gqa_dir, tmp_path / "empty")
    (bad / "model.safetensors").unlink()
    _expect_error(bad, "cannot load weights")


def test_weights_do_not_match_config(tmp_path: Path, gqa_dir: Path) -> None:
    bad = _copy(gqa_dir, tmp_path / "wider")
    config = json.loads((bad / "config.json").read_text())
    config["intermediate_size"] = 96
    (bad / "config.json").write_text(json.dumps(config))
    _expect_error(bad, "wrong shape", "mlp")


def test_missing_tensor(tmp_path: Path, gqa_dir: Path) -> None:
    from safetensors.torch import load_file, save_file

    bad = _copy(gqa_dir, tmp_path / "holey")
    weights = bad / "model.safetensors"
    tensors = load_file(weights)
    del tensors["model.layers.1.mlp.up_proj.weight"]
    save_file(tensors, weights, metadata={"format": "pt"})
    _expect_error(bad, "missing", "model.layers.1.mlp.up_proj.weight")
