"""tools/execute_notebooks.py records how it ran each notebook; tools/check_notebooks.py (make test,
step 1) fails a notebook not executed as nbval re-runs it. On hand-made notebooks."""

from __future__ import annotations

import sys

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook, new_output

from alexnet_lib.config import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "tools"))
import check_notebooks  # noqa: E402
import execute_notebooks  # noqa: E402
from execute_notebooks import EXECUTED, KERNELSPEC, STORED  # noqa: E402

# What the kernel runs with: torch's threads, the GPUs it may see, the hash seed.
PROBE = ("import os, torch\n"
         "print(torch.get_num_threads(), repr(os.environ['CUDA_VISIBLE_DEVICES']), os.environ['PYTHONHASHSEED'])")


def executed_notebook(path, executed_with):
    """Two code cells run 1, 2 in one kernel, and a record of how (none if ``executed_with`` is None)."""
    cells = [new_code_cell("x = 1", execution_count=1),
             new_code_cell("print(x)", execution_count=2, outputs=[new_output("stream", name="stdout", text="1\n")])]
    nb = new_notebook(cells=cells, metadata={"kernelspec": KERNELSPEC})
    if executed_with is not None:
        nb.metadata[EXECUTED] = executed_with
    nbformat.write(nb, path)
    return path


def test_a_notebook_executed_as_nbval_reruns_it_passes(tmp_path, capsys):
    path = executed_notebook(tmp_path / "stored.ipynb", dict(STORED))
    assert check_notebooks.main([str(path)]) == 0
    assert capsys.readouterr().out.startswith(f"ok   {path}: 2 code cells executed 1..2 as nbval re-runs them")


@pytest.mark.parametrize("executed_with, says", [
    ({**STORED, "OMP_NUM_THREADS": "2", "MKL_NUM_THREADS": "2"},
     "executed with MKL_NUM_THREADS=2 OMP_NUM_THREADS=2, not as nbval re-runs it "
     "(MKL_NUM_THREADS=1 OMP_NUM_THREADS=1)"),
    ({name: value for name, value in STORED.items() if name != "CUDA_VISIBLE_DEVICES"},
     "executed with CUDA_VISIBLE_DEVICES unset, not as nbval re-runs it (CUDA_VISIBLE_DEVICES=)"),
    ({**STORED, "ALEXNET_PROFILE": "course", "ALEXNET_DRY_RUN": "1"},
     "executed with ALEXNET_DRY_RUN=1 ALEXNET_PROFILE=course, not as nbval re-runs it (ALEXNET_DRY_RUN unset "
     "ALEXNET_PROFILE=smoke)"),
    (None, "no record of how it was executed (metadata 'executed_with')"),
], ids=["two threads", "a GPU allowed", "another profile", "no record"])
def test_a_notebook_executed_otherwise_fails_in_one_line_naming_it(tmp_path, capsys, executed_with, says):
    path = executed_notebook(tmp_path / "other.ipynb", executed_with)
    assert check_notebooks.main([str(path)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"FAIL {path}: {says}" and len(lines) == 2  # and the summary line


@pytest.mark.parametrize("profile, ran, passes", [("smoke", "1 '' 0", True), ("course", "2 '0' 1", False)])
def test_execute_runs_smoke_as_nbval_does_whatever_the_environment_and_records_it(
        tmp_path, monkeypatch, profile, ran, passes):
    for name, value in {**STORED, "OMP_NUM_THREADS": "2", "MKL_NUM_THREADS": "2", "CUDA_VISIBLE_DEVICES": "0",
                        "PYTHONHASHSEED": "1", "ALEXNET_PROFILE": profile}.items():
        monkeypatch.setenv(name, value)  # restored after the test, whatever execute sets
    for name in ("ALEXNET_IMAGENET", "ALEXNET_DRY_RUN"):
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "probe.ipynb"
    nbformat.write(new_notebook(cells=[new_code_cell(PROBE)]), path)
    assert execute_notebooks.main([str(path)]) == 0
    assert nbformat.read(path, as_version=4).cells[0].outputs[0].text == f"{ran}\n"
    assert check_notebooks.main([str(path)]) == (0 if passes else 1)


def test_the_whole_book_under_smoke_moves_a_section_6_run_from_before_aside(tmp_path, monkeypatch, capsys):
    # §6 would resume it and print other lines than nbval's fresh run, in which §6 trains it anew;
    # a second `make book` must still work, and the earlier run is kept.
    monkeypatch.setenv("ALEXNET_RUNS", str(tmp_path))
    for name, value in STORED.items():
        monkeypatch.setenv(name, value)
    (tmp_path / "smoke-qualitative").mkdir()
    (tmp_path / "smoke-qualitative" / "checkpoint.pt").write_bytes(b"an earlier run")
    seen = []
    monkeypatch.setattr(execute_notebooks, "execute", lambda path, *args: seen.append(
        (tmp_path / "smoke-qualitative").exists()) or 0.0)
    assert execute_notebooks.main([]) == 0
    assert seen and not any(seen)  # every notebook ran without the earlier §6 run in its place
    kept = [p for p in tmp_path.iterdir() if p.name.startswith("smoke-qualitative.")]
    assert len(kept) == 1 and (kept[0] / "checkpoint.pt").read_bytes() == b"an earlier run"
    assert "moved the §6 run from before" in capsys.readouterr().out
