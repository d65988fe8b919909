"""poser-interp: catch alignment-faking language models from their internals.

Heavy imports (torch, transformer-lens) happen only when a model-facing name is first used, so the
CLI starts fast.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "load_model": "poser_interp.zoo.load",
    "get_detector": "poser_interp.strategies.base",
    "evaluate_pairs": "poser_interp.evaluation.pairs",
    "run_on_zoo": "poser_interp.pipeline.runs",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'poser_interp' has no attribute {name!r}")
