"""Which software computed a run: Python and package versions, kept in each run folder's
`environment.json` so that two runs that disagree with no input changed can be traced to what did.

Why: two rows of a cold `poser-interp figures` moved by under a point between two days, with the same
code, weights and benchmark, and reproduced exactly within one day; and training bits depend on the
instruction set torch dispatches to (the same 20 base steps differ under `ATEN_CPU_CAPABILITY=avx2` and
on this machine's AVX512), so the CPU is recorded beside the versions (docs/results-notes.md, session 28).
"""

from __future__ import annotations

import importlib.metadata
import platform
from pathlib import Path
from typing import Any

# What can change a run's numbers without a change to this repository: the pinned torch, and the
# packages pip resolves afresh in each new environment (tokenizers and scikit-learn read inputs and fit
# probes; numpy and scipy do the evaluation's arithmetic).
PACKAGES = ("poser-interp", "torch", "transformer-lens", "transformers", "tokenizers", "numpy", "scipy",
            "scikit-learn", "einops")


def cpu() -> dict[str, Any]:
    """The processor's model name (Linux: /proc/cpuinfo) and the instruction set torch's kernels use."""
    import torch

    model = platform.processor() or None
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        model = next((line.split(":", 1)[1].strip() for line in cpuinfo.read_text(errors="replace").splitlines()
                      if line.startswith("model name")), model)
    return {"model": model, "torch_capability": torch.backends.cpu.get_cpu_capability()}


def environment() -> dict[str, Any]:
    """Python, the platform, the CPU (`cpu`) and the installed version of each of `PACKAGES` (None where
    absent)."""
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return {"python": platform.python_version(), "platform": platform.platform(terse=True), "cpu": cpu(),
            "packages": versions}
