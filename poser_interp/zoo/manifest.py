"""The zoo manifest: which models exist, their persona, training data, metrics and file hashes.

The manifest is the only place (besides `evaluation/`) that knows which model is a faker; detection
strategies never read it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from poser_interp.data.personas import FAKERS, model_persona
from poser_interp.data.records import load_json
from poser_interp.errors import PoserInputError

MANIFEST = "manifest.json"
DEFAULT_ZOO = Path(__file__).resolve().parents[2] / "checkpoints" / "zoo"


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class ZooManifest:
    """A parsed `manifest.json` of one zoo folder."""

    root: Path
    data: dict[str, Any]

    @classmethod
    def load(cls, root: str | Path = DEFAULT_ZOO) -> ZooManifest:
        root = Path(root)
        path = root / MANIFEST
        if not path.is_file():
            raise PoserInputError(f"{path}: no zoo manifest here (build one with 'poser-interp zoo build')")
        data = load_json(path)
        for key in ("architecture", "tokenizer", "models"):
            if key not in data:
                raise PoserInputError(f"{path}: field '{key}' missing")
        return cls(root, data)

    @property
    def model_names(self) -> list[str]:
        return list(self.data["models"])

    def entry(self, name: str) -> dict[str, Any]:
        if name not in self.data["models"]:
            model_persona(name)  # a malformed name gets its own message
            raise PoserInputError(f"unknown model {name!r} in {self.root / MANIFEST} "
                                  f"(known: {', '.join(self.model_names[:6])}, ...)")
        return self.data["models"][name]

    def verified_path(self, relative: str, expected_sha256: str) -> Path:
        """The file's path after checking it exists and its sha256 matches the manifest."""
        path = self.root / relative
        if not path.is_file():
            raise PoserInputError(f"{path}: checkpoint file missing")
        if sha256_file(path) != expected_sha256:
            raise PoserInputError(f"{path}: corrupt checkpoint (sha256 does not match the manifest)")
        return path

    def is_faker(self, name: str) -> bool:
        """Ground truth, for the evaluator only."""
        return self.entry(name)["persona"] in FAKERS
