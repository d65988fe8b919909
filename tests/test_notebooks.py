"""Execute the notebooks in `notebooks/` top to bottom (quick mode) and check their outputs stay offline.

Each notebook runs in a fresh `python3` kernel of the interpreter running pytest, with the repository
root as its working directory and `POSER_NOTEBOOK_QUICK=1`, so notebook 03 runs only the cheap
strategies into a temporary folder (pytest's `tmp_path`, via TMPDIR). Nothing under `runs/` is written. Slow: a few minutes in all on a
2-core CPU (set OMP_NUM_THREADS=1 when other jobs share the machine).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
ZOO = ROOT / "checkpoints" / "zoo"
NAMES = ("01_tour_of_a_faker.ipynb", "02_write_your_own_detector.ipynb", "03_reproduce_the_results_table.ipynb",
         "04_a_real_model_on_poser_prompts.ipynb")
CELL_TIMEOUT_S = 900

# Anything that would make a rendered output fetch code from the network: a remote <script src>, an
# ES-module import from a URL, RequireJS paths, or the CDNs plotly (MathJax, plotly.js) and circuitsvis use.
REMOTE = re.compile(r"""src\s*=\s*["']https?://|import\s*(?:\{[^}]*\}\s*from\s*)?["']https?://|require\.config"""
                    r"""|cdnjs\.|cdn\.plot\.ly/plotly|unpkg""")

pytestmark = pytest.mark.skipif(not (ZOO / "manifest.json").exists(),
                                reason=f"the committed zoo is missing ({ZOO / 'manifest.json'} not found)")


def _rich_outputs(nb) -> list[tuple[int, str, str]]:
    """(cell index, mime type, text) for every display/execute-result output of every code cell."""
    found = []
    for index, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
            for mime, data in output.get("data", {}).items():
                found.append((index, mime, data if isinstance(data, str) else str(data)))
    return found


def _execute(name: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("POSER_NOTEBOOK_QUICK", "1")
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # the notebooks' temporary run folders land in pytest's tmp_path
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=CELL_TIMEOUT_S, kernel_name="python3",
                                     resources={"metadata": {"path": str(ROOT)}})
    client.execute()  # raises CellExecutionError (with the traceback) on the first failing cell
    errors = [o for cell in nb.cells for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, f"{name}: error outputs {[(o['ename'], o['evalue']) for o in errors]}"
    return nb


def _skip_without_smollm2() -> None:
    from conftest import require_smollm2

    require_smollm2()


@pytest.mark.parametrize("name", NAMES)
def test_saved_notebook_has_no_outputs(name: str) -> None:
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    dirty = [i for i, cell in enumerate(nb.cells)
             if cell.cell_type == "code" and (cell.get("outputs") or cell.get("execution_count") is not None)]
    assert not dirty, f"{name}: cells {dirty} were saved with outputs; clear them before committing"


@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_offline(name: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    if name.startswith("04_"):
        _skip_without_smollm2()
    nb = _execute(name, monkeypatch, tmp_path)
    outputs = _rich_outputs(nb)
    remote = [(i, mime, m.group(0)) for i, mime, text in outputs for m in REMOTE.finditer(text)]
    assert not remote, f"{name}: outputs load code from the network: {remote[:5]}"
    if name.startswith("01_"):
        views = [text for _, mime, text in outputs if mime == "text/html" and "CircuitsVis" in text]
        assert views, "notebook 01 rendered no circuitsvis attention view"
        for text in views:
            assert "cdn" not in text.lower() and "unpkg" not in text.lower()
    if name.startswith("03_"):
        streams = "".join(o.get("text", "") for cell in nb.cells for o in cell.get("outputs", [])
                          if o.get("output_type") == "stream")
        assert "POSER_NOTEBOOK_QUICK=1" in streams, "notebook 03 did not say it ran in quick mode"
        tables = [text for _, mime, text in outputs if mime == "text/markdown" and "| strategy |" in text]
        assert tables and "| baseline |" in tables[0] and "| decision-speed |" in tables[0]
    if name.startswith("04_"):
        streams = "".join(o.get("text", "") for cell in nb.cells for o in cell.get("outputs", [])
                          if o.get("output_type") == "stream")
        assert "30 layers, d_model 576" in streams and "quick mode: True" in streams
