"""File I/O: atomic writes (a result file is complete or absent) and the one safe JSON reader.

Every JSON file or line the package reads goes through `read_json` / `parse_json`, so pathological
input (a directory, invalid UTF-8, very deep nesting, numbers too large for a float or int, NaN or
Infinity literals) gives one `PoserInputError` line naming the file, never a traceback.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from poser_interp.errors import PoserInputError


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"number {text[:20]}{'...' if len(text) > 20 else ''} is too large for a float")
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_json(text: str, where: str) -> Any:
    """`text` as JSON, with one clear error naming `where` (a file, or a file and line) on any problem."""
    try:
        return json.loads(text, parse_float=_finite_float, parse_constant=_no_constant)
    except json.JSONDecodeError as err:
        raise PoserInputError(f"{where}: not valid JSON (line {err.lineno}, column {err.colno}: {err.msg})") from None
    except RecursionError:
        raise PoserInputError(f"{where}: JSON nested too deeply to read") from None
    except ValueError as err:  # a huge integer or float, NaN/Infinity literals
        raise PoserInputError(f"{where}: unreadable JSON ({str(err).splitlines()[0][:120]})") from None


def read_text(path: str | os.PathLike[str]) -> str:
    """A UTF-8 text file, with one clear error for a missing file, a directory, bad bytes or no access."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PoserInputError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise PoserInputError(f"{path}: cannot read (it is a directory, not a file)") from None
    except UnicodeDecodeError as err:
        raise PoserInputError(f"{path}: not UTF-8 text (byte {err.start})") from None
    except OSError as err:  # no permission, a broken link, ...
        raise PoserInputError(f"{path}: cannot read ({err.strerror or err})") from None


def read_json(path: str | os.PathLike[str]) -> Any:
    """A JSON file, safely (see the module docstring)."""
    return parse_json(read_text(path), str(path))


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write `data` to a temporary file beside `path`, then rename it into place."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; results are ordinary files
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def write_text_atomic(path: str | os.PathLike[str], text: str) -> Path:
    return write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: str | os.PathLike[str], obj: Any, *, indent: int | None = 1) -> Path:
    """JSON with sorted keys, so equal content gives byte-identical files."""
    return write_text_atomic(path, json.dumps(obj, indent=indent, sort_keys=True) + "\n")
