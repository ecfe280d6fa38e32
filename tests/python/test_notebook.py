"""examples/notebook.ipynb runs in a Jupyter kernel and shows the job's output."""

from __future__ import annotations

import os
import pathlib
from collections.abc import Iterator

import pytest

import sky
from sky import _sdk

nbclient = pytest.importorskip("nbclient")
nbformat = pytest.importorskip("nbformat")

CELL_TIMEOUT_S = 120


def cell_text(cell: nbformat.NotebookNode) -> str:
    """Everything a code cell showed: streams, results and errors."""
    parts = []
    for output in cell.get("outputs", []):
        if output.output_type == "stream":
            parts.append(output.text)
        elif output.output_type in ("execute_result", "display_data"):
            parts.append(output.data.get("text/plain", ""))
        elif output.output_type == "error":
            parts.append("\n".join(output.traceback))
    return "".join(parts)


@pytest.fixture
def notebook_env(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[pathlib.Path]:
    """State dir and HOME in tmp for the kernel (it inherits our environment);
    whatever the notebook leaves up is torn down afterwards from here."""
    (tmp_path / "home").mkdir()
    monkeypatch.setenv("SKYCORE_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    # The kernel finds the same `sky` as this process (a dev build on PYTHONPATH too).
    package_root = str(pathlib.Path(sky.__file__).absolute().parents[1])
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))
    )
    try:
        yield tmp_path
    finally:
        context = _sdk.Context.from_environment(state_dir=tmp_path / "state")
        previous = _sdk.set_context(context)
        try:
            for record in sky.get(sky.status()):
                sky.get(sky.down(record["name"], purge=True))
        finally:
            _sdk.set_context(previous)


def test_notebook_runs_and_shows_job_output(repo: pathlib.Path, notebook_env: pathlib.Path) -> None:
    notebook = nbformat.read(repo / "examples" / "notebook.ipynb", as_version=4)
    client = nbclient.NotebookClient(
        notebook,
        kernel_name="python3",
        timeout=CELL_TIMEOUT_S,
        resources={"metadata": {"path": str(notebook_env)}},
    )
    client.execute()

    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    outputs = [cell_text(cell) for cell in code_cells]

    def output_of(call: str) -> str:
        return next(text for cell, text in zip(code_cells, outputs) if call in cell.source)

    launch_output = output_of("sky.launch")
    assert "hello from the notebook" in launch_output
    assert "step 3" in launch_output
    assert "ran on notebook-demo" in launch_output
    assert "SUCCEEDED" in output_of("sky.queue")
    # The last cell tore the cluster down: no cluster is left.
    assert outputs[-1].strip() == "[]"
