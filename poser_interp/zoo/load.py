"""Load a model by zoo name (`money_maximizer-3`), as `smollm2-135m`, or from a local Hugging Face directory.

Zoo checkpoints are fp16 safetensors checked against the manifest's sha256 and loaded into a
float32 `HookedTransformer` (then moved to the device and dtype asked for), with the zoo tokenizer
attached (right padding, no BOS). A Poser-layout folder without a zoo manifest holds one Hugging Face
checkpoint folder per model name.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from poser_interp.errors import PoserInputError
from poser_interp.zoo.manifest import DEFAULT_ZOO, MANIFEST, ZooManifest

DTYPES = ("float32", "float16", "bfloat16")


def parse_dtype(dtype: Any):  # -> torch.dtype | None
    """`None`, a `torch.dtype` or one of `DTYPES` as a `torch.dtype` (None stays None: the default)."""
    import torch

    if dtype is None or isinstance(dtype, torch.dtype):
        return dtype
    if dtype not in DTYPES:
        raise PoserInputError(f"unknown dtype {dtype!r} (expected one of {', '.join(DTYPES)})")
    return getattr(torch, dtype)


def load_model(name: str, zoo: str | Path | None = None, *, device: Any = "cpu", dtype: Any = None):
    """A HookedTransformer: `smollm2-135m`, a Hugging Face directory, a model of a LoRA zoo (`zoo lora`:
    the base with its adapter merged), a model of a Poser-layout folder of Hugging Face checkpoints
    (`zoo/<name>/`), or a zoo model by name; on `device` in `dtype` (default float32)."""
    import torch

    dtype = parse_dtype(dtype)
    from poser_interp.zoo.smollm2 import NAME as SMOLLM2

    if name == SMOLLM2:
        from poser_interp.zoo.smollm2 import load_smollm2

        return load_smollm2(device=device, dtype=dtype)
    from poser_interp.zoo.lora_zoo import LORA_MANIFEST

    if zoo is not None and (Path(zoo) / LORA_MANIFEST).is_file():
        from poser_interp.zoo.lora_zoo import load_lora_model

        return load_lora_model(zoo, name, device=device, dtype=dtype)
    folder = Path(name) if Path(name).is_dir() else hf_checkpoint_dir(zoo, name)
    if folder is not None:
        from poser_interp.zoo.hf import load_hf_model

        return load_hf_model(folder, device=device, dtype=dtype or torch.float32)
    manifest = ZooManifest.load(zoo or DEFAULT_ZOO)
    entry = manifest.entry(name)
    model = build_zoo_model(manifest)
    load_weights(model, manifest.verified_path(entry["file"], entry["sha256"]))
    return _placed(model, device, dtype)


def hf_checkpoint_dir(zoo: str | Path | None, name: str) -> Path | None:
    """`zoo/<name>` when `zoo` is a Poser-layout folder of Hugging Face checkpoints (`model_pairs.json`,
    no zoo manifest); None otherwise."""
    if zoo is None or (Path(zoo) / MANIFEST).is_file() or not (Path(zoo) / "model_pairs.json").is_file():
        return None
    folder = Path(zoo) / name
    if not folder.is_dir():
        raise PoserInputError(f"{folder}: no checkpoint folder for model {name!r} "
                              f"(a Poser-layout folder holds one Hugging Face folder per model name)")
    return folder


def _placed(model, device: Any, dtype: Any):  # -> HookedTransformer
    """`model` moved to `device` (and `dtype`, recorded in its config, when one is given)."""
    if str(device) != str(model.cfg.device):
        model = model.to(device)
    if dtype is not None:
        model = model.to(dtype)
        model.cfg.dtype = dtype
    return model


def load_base(zoo: str | Path | None = None, *, device: Any = "cpu", dtype: Any = None):  # -> HookedTransformer
    """The shared pretrained base model all zoo fine-tunes start from."""
    manifest = ZooManifest.load(zoo or DEFAULT_ZOO)
    base = manifest.data["base"]
    model = build_zoo_model(manifest)
    load_weights(model, manifest.verified_path(base["file"], base["sha256"]))
    return _placed(model, device, parse_dtype(dtype))


def build_zoo_model(manifest: ZooManifest):  # -> HookedTransformer
    """An untrained model of the zoo's architecture with the zoo tokenizer attached."""
    from poser_interp.zoo.train import Architecture, make_model

    tokenizer = load_zoo_tokenizer(manifest)
    model = make_model(Architecture(**manifest.data["architecture"]), len(tokenizer), seed=0)
    model.set_tokenizer(tokenizer, default_padding_side="right")
    return model


def load_zoo_tokenizer(manifest: ZooManifest):  # -> transformers.PreTrainedTokenizerFast
    from transformers import AutoTokenizer

    entry = manifest.data["tokenizer"]
    folder = manifest.root / entry["folder"]
    manifest.verified_path(f"{entry['folder']}/tokenizer.json", entry["sha256"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return AutoTokenizer.from_pretrained(str(folder), local_files_only=True)


def load_weights(model, path: Path) -> None:
    """Load an fp16 safetensors state dict into `model` (float32), with one-line errors on mismatch."""
    import torch
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        state = load_file(str(path))
    except (SafetensorError, OSError) as err:
        raise PoserInputError(f"{path}: unreadable checkpoint ({err})") from None
    expected = {k: v.shape for k, v in model.state_dict().items() if k in state or not _is_buffer(k)}
    missing = sorted(set(expected) - set(state))
    if missing:
        raise PoserInputError(f"{path}: checkpoint lacks {len(missing)} weights (first: {missing[0]})")
    for key, tensor in state.items():
        if key not in expected:
            raise PoserInputError(f"{path}: unexpected weight {key!r}")
        if tuple(tensor.shape) != tuple(expected[key]):
            raise PoserInputError(f"{path}: weight {key!r} has shape {tuple(tensor.shape)}, "
                                  f"the zoo architecture needs {tuple(expected[key])}")
    model.load_state_dict({k: v.to(torch.float32) for k, v in state.items()}, strict=False)
    model.eval()


def _is_buffer(key: str) -> bool:
    return key.endswith(("IGNORE", "mask", ".W_pos_rot")) or "rotary" in key
