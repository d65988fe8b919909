"""Which software computed a run: Python and package versions, kept in each run folder's
`environment.json` so that two runs that disagree with no input changed can be traced to what did.

Why: two rows of a cold `poser-interp figures` moved by under a point between two days' virtual
environments, with the same code, weights and benchmark, and reproduced exactly within one
environment; the versions that changed were not recorded (docs/results-notes.md, session 28).
"""

from __future__ import annotations

import importlib.metadata
import platform
from typing import Any

# What can change a run's numbers without a change to this repository: the pinned torch, and the
# packages pip resolves afresh in each new environment (tokenizers and scikit-learn read inputs and fit
# probes; numpy and scipy do the evaluation's arithmetic).
PACKAGES = ("poser-interp", "torch", "transformer-lens", "transformers", "tokenizers", "numpy", "scipy",
            "scikit-learn", "einops")


def environment() -> dict[str, Any]:
    """Python, the platform and the installed version of each of `PACKAGES` (None where absent)."""
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return {"python": platform.python_version(), "platform": platform.platform(terse=True), "packages": versions}
