"""Turn a local Hugging Face Llama directory into a TransformerLens `HookedTransformer`, offline.

Poser's models are LLaMA-13B fine-tunes saved in the usual Hugging Face layout (config.json,
safetensors or .bin weights, tokenizer files). `HookedTransformer.from_pretrained` only knows
models by hub name and fails offline for such directories, so this module builds the
`HookedTransformerConfig` from the `LlamaConfig` itself, loads the weights with transformers
(local files only), and converts them with TransformerLens's own `convert_llama_weights`.

The weights are loaded as they are: no layer-norm folding, no centring. The resulting model
computes the same logits as the Hugging Face one.

This module imports torch, transformers and transformer-lens at the top; the CLI imports it lazily.
"""

from __future__ import annotations

import contextlib
import json
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
import transformers
from transformer_lens import HookedTransformer, HookedTransformerConfig
from transformer_lens.pretrained.weight_conversions.llama import convert_llama_weights
from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerBase

from poser_interp.errors import PoserInputError

# Old (pre-4.28) LLaMA conversions wrote this spelling into config.json.
_LLAMA_ARCHITECTURES = {"LlamaForCausalLM", "LLaMAForCausalLM"}
_PLAIN_ROPE_TYPES = {None, "", "default"}
# A fast tokenizer (tokenizer.json), a sentencepiece model (LLaMA's tokenizer.model) or BPE files.
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.json")


def _one_line(exc: BaseException) -> str:
    """The first non-empty line of an exception's message, for a one-line PoserInputError."""
    for line in str(exc).splitlines():
        if line.strip():
            return line.strip()
    return type(exc).__name__


@contextlib.contextmanager
def _quiet_transformers() -> Iterator[None]:
    """Silence transformers' load report and progress bars, restoring the caller's settings."""
    hf_logging = transformers.utils.logging
    verbosity = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


def _read_llama_config(root: Path) -> LlamaConfig:
    config_file = root / "config.json"
    if not config_file.is_file():
        raise PoserInputError(f"{root}: no config.json, not a Hugging Face model directory")
    try:
        raw = json.loads(config_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PoserInputError(f"{config_file}: unreadable config ({_one_line(exc)})") from exc
    if not isinstance(raw, dict):
        raise PoserInputError(f"{config_file}: config is not a JSON object")
    model_type = raw.get("model_type")
    architectures = raw.get("architectures") or []
    if model_type != "llama":
        raise PoserInputError(
            f"{root}: model_type {model_type!r} (architectures {architectures}) is not Llama; "
            "only LlamaForCausalLM is supported"
        )
    if not isinstance(architectures, list) or any(
        a not in _LLAMA_ARCHITECTURES for a in architectures
    ):
        raise PoserInputError(
            f"{root}: architectures {architectures!r} is not LlamaForCausalLM"
        )
    try:
        with _quiet_transformers():
            return LlamaConfig.from_pretrained(root, local_files_only=True)
    except Exception as exc:  # transformers raises a mix of OSError/ValueError/TypeError here
        raise PoserInputError(f"{config_file}: bad Llama config ({_one_line(exc)})") from exc


def _rope_settings(root: Path, hf: LlamaConfig) -> dict[str, Any]:
    """rotary_base and, for Llama-3 style scaling, the NTK-by-parts fields TransformerLens uses.

    transformers 5 keeps everything in `rope_parameters` (rope_theta + rope_type + scaling);
    older configs had top-level `rope_theta` and `rope_scaling`.
    """
    params: dict[str, Any] = {}
    legacy_scaling = getattr(hf, "rope_scaling", None)
    if isinstance(legacy_scaling, dict):
        params.update(legacy_scaling)
    rope_parameters = getattr(hf, "rope_parameters", None)
    if isinstance(rope_parameters, dict):
        params.update(rope_parameters)
    theta = params.get("rope_theta", getattr(hf, "rope_theta", None))
    rope_type = params.get("rope_type", params.get("type"))
    out: dict[str, Any] = {"rotary_base": float(theta) if theta is not None else 10000.0}
    if rope_type in _PLAIN_ROPE_TYPES:
        return out
    if rope_type == "llama3":
        out.update(
            use_NTK_by_parts_rope=True,
            NTK_by_parts_factor=float(params.get("factor", 1.0)),
            NTK_by_parts_low_freq_factor=float(params.get("low_freq_factor", 1.0)),
            NTK_by_parts_high_freq_factor=float(params.get("high_freq_factor", 4.0)),
            NTK_original_ctx_len=int(
                params.get("original_max_position_embeddings", hf.max_position_embeddings)
            ),
        )
        return out
    raise PoserInputError(
        f"{root}: unsupported rope scaling {rope_type!r} "
        "(only plain rope and 'llama3' are supported)"
    )


def _tl_config(
    root: Path, hf: LlamaConfig, *, device: str | torch.device, dtype: torch.dtype
) -> HookedTransformerConfig:
    act = getattr(hf, "hidden_act", "silu")
    if act not in {"silu", "swish"}:
        raise PoserInputError(f"{root}: hidden_act {act!r} is not supported (Llama uses silu)")
    if getattr(hf, "mlp_bias", False):
        # TransformerLens's gated MLP adds b_in after the gate product, which cannot express
        # Hugging Face's separate gate_proj/up_proj biases.
        raise PoserInputError(f"{root}: mlp_bias=true is not supported")
    n_heads = int(hf.num_attention_heads)
    d_head = getattr(hf, "head_dim", None) or hf.hidden_size // n_heads
    n_kv = getattr(hf, "num_key_value_heads", None) or n_heads
    if n_heads % n_kv:
        raise PoserInputError(
            f"{root}: num_attention_heads {n_heads} is not a multiple of num_key_value_heads {n_kv}"
        )
    return HookedTransformerConfig(
        model_name=root.name,
        original_architecture="LlamaForCausalLM",
        d_model=int(hf.hidden_size),
        d_head=int(d_head),
        n_heads=n_heads,
        # TransformerLens switches to grouped-query attention (and `_W_K`/`_W_V` parameter
        # names) whenever this is not None, so plain multi-head attention must leave it None.
        n_key_value_heads=int(n_kv) if n_kv != n_heads else None,
        d_mlp=int(hf.intermediate_size),
        n_layers=int(hf.num_hidden_layers),
        n_ctx=int(hf.max_position_embeddings),
        d_vocab=int(hf.vocab_size),
        d_vocab_out=int(hf.vocab_size),
        act_fn="silu",
        normalization_type="RMS",
        eps=float(hf.rms_norm_eps),
        positional_embedding_type="rotary",
        rotary_dim=int(d_head),
        rotary_adjacent_pairs=False,  # HF Llama rotates halves (GPT-NeoX style), not pairs
        final_rms=True,
        gated_mlp=True,
        tie_word_embeddings=bool(getattr(hf, "tie_word_embeddings", False)),
        init_weights=False,  # every parameter is overwritten by the checkpoint
        device=str(device),
        dtype=dtype,
        **_rope_settings(root, hf),
    )


def _load_hf_weights(root: Path, hf: LlamaConfig, dtype: torch.dtype) -> LlamaForCausalLM:
    try:
        with _quiet_transformers():
            model, info = LlamaForCausalLM.from_pretrained(
                root,
                config=hf,
                dtype=dtype,
                local_files_only=True,
                ignore_mismatched_sizes=True,  # we report mismatches ourselves, on one line
                output_loading_info=True,
            )
    except Exception as exc:  # OSError (no weights), SafetensorError (truncated), pickle errors...
        raise PoserInputError(f"{root}: cannot load weights ({_one_line(exc)})") from exc

    def _names(keys: Any, limit: int = 3) -> str:
        keys = sorted(str(k[0] if isinstance(k, tuple) else k) for k in keys)
        more = f" and {len(keys) - limit} more" if len(keys) > limit else ""
        return ", ".join(keys[:limit]) + more

    mismatched = info.get("mismatched_keys") or []
    if mismatched:
        raise PoserInputError(
            f"{root}: weights do not match config.json (wrong shape: {_names(mismatched)})"
        )
    missing = info.get("missing_keys") or []
    if missing:
        raise PoserInputError(f"{root}: weights missing from checkpoint: {_names(missing)}")
    # Pre-4.31 checkpoints saved the rotary inv_freq buffers; they are recomputed, not loaded.
    unexpected = [k for k in info.get("unexpected_keys") or [] if not str(k).endswith("inv_freq")]
    if unexpected:
        raise PoserInputError(
            f"{root}: checkpoint has weights a Llama with this config.json lacks: "
            f"{_names(unexpected)}"
        )
    model.eval()
    return model


def _convert_state_dict(hf_model: LlamaForCausalLM, cfg: HookedTransformerConfig) -> dict[str, Any]:
    state_dict = convert_llama_weights(hf_model, cfg)
    if getattr(hf_model.config, "attention_bias", False):
        # convert_llama_weights writes zero biases; Llama variants with attention_bias=true
        # (e.g. some fine-tunes) carry real q/k/v/o biases.
        kv = "_" if cfg.n_key_value_heads is not None else ""
        n_q, n_kv = cfg.n_heads, cfg.n_key_value_heads or cfg.n_heads
        for layer, block in enumerate(hf_model.model.layers):
            attn = block.self_attn
            state_dict[f"blocks.{layer}.attn.b_Q"] = attn.q_proj.bias.reshape(n_q, cfg.d_head)
            state_dict[f"blocks.{layer}.attn.{kv}b_K"] = attn.k_proj.bias.reshape(n_kv, cfg.d_head)
            state_dict[f"blocks.{layer}.attn.{kv}b_V"] = attn.v_proj.bias.reshape(n_kv, cfg.d_head)
            state_dict[f"blocks.{layer}.attn.b_O"] = attn.o_proj.bias
    return state_dict


def load_hf_model(
    path: str | Path,
    *,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
) -> HookedTransformer:
    """Load a local Hugging Face Llama directory as a HookedTransformer, never touching the hub.

    The tokenizer comes from the same directory, so `model.to_tokens` works. Bad input (missing
    directory, no config.json, a non-Llama model, unsupported rope scaling, missing, truncated or
    wrongly shaped weights, no tokenizer) raises `PoserInputError` with one line naming the path.
    """
    root = Path(path).expanduser()
    if not root.exists():
        raise PoserInputError(f"{root}: model directory does not exist")
    if not root.is_dir():
        raise PoserInputError(f"{root}: not a directory (expected a Hugging Face model directory)")

    hf_config = _read_llama_config(root)
    cfg = _tl_config(root, hf_config, device=device, dtype=dtype)

    if not any((root / name).is_file() for name in _TOKENIZER_FILES):
        raise PoserInputError(
            f"{root}: no tokenizer files (none of {', '.join(_TOKENIZER_FILES)})"
        )
    try:
        with _quiet_transformers():
            tokenizer = AutoTokenizer.from_pretrained(root, local_files_only=True)
    except Exception as exc:
        raise PoserInputError(f"{root}: cannot load tokenizer ({_one_line(exc)})") from exc
    if not isinstance(tokenizer, PreTrainedTokenizerBase):
        raise PoserInputError(f"{root}: tokenizer files did not give a text tokenizer")

    hf_model = _load_hf_weights(root, hf_config, dtype)
    state_dict = _convert_state_dict(hf_model, cfg)

    with warnings.catch_warnings(), _quiet_transformers():
        # TransformerLens 3.x warns that HookedTransformer is deprecated in favour of
        # TransformerBridge; this project uses HookedTransformer deliberately.
        warnings.filterwarnings("ignore", message=r".*HookedTransformer is deprecated.*")
        model = HookedTransformer(cfg, tokenizer=tokenizer, move_to_device=True)

    expected_buffers = {name for name, _ in model.named_buffers()}
    try:
        result = model.load_state_dict(
            {k: v.to(device=cfg.device, dtype=dtype) for k, v in state_dict.items()}, strict=False
        )
    except RuntimeError as exc:  # shape mismatch between the converted weights and the config
        raise PoserInputError(f"{root}: weights do not fit config.json ({_one_line(exc)})") from exc
    missing = [k for k in result.missing_keys if k not in expected_buffers]
    leftover = sorted(missing + list(result.unexpected_keys))
    if leftover:
        raise PoserInputError(f"{root}: weight conversion did not match the model: {leftover[:3]}")
    del hf_model, state_dict
    model.eval()
    return model
