"""Repository contracts: CI runs exactly the README's test command; the CLI starts without torch."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)\n```", readme, flags=re.S)
    test_command = next(b for b in blocks if "pytest" in b).strip()
    assert test_command in (ROOT / ".ci" / "run").read_text()


def test_help_is_fast_and_imports_no_torch():
    code = "import sys, time; t = time.time(); import poser_interp.cli; print('torch' in sys.modules)"
    start = time.time()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    assert time.time() - start < 5  # generous under test load; measured about 0.3 s idle
