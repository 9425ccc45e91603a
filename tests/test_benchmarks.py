"""The benchmark scripts still run against the library, at tiny sizes on the CPU (a benchmark
that runs only on a GPU rots unnoticed).

Their timings are not checked here: they are recorded in benchmarks/README.md. What is checked is
each script's contract: it exits cleanly and its last line is its one-line summary, with the
ratio or rate it exists to report.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from alexnet_lib.config import REPO_ROOT

NUMBER = r"\d+(\.\d+)?"


def summary_line(script: str, *args, data: Path | None = None) -> str:
    """Run ``benchmarks/<script>`` in a fresh process on the CPU; return its last line."""
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "PYTHONPATH": str(REPO_ROOT)}
    if data is not None:
        env["ALEXNET_DATA"] = str(data)
    result = subprocess.run([sys.executable, str(REPO_ROOT / "benchmarks" / script), *map(str, args)],
                            cwd=REPO_ROOT, env=env, text=True, capture_output=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.strip().splitlines()[-1]


def test_train_step_prints_the_paper_to_torchvision_ratio():
    line = summary_line("train_step.py", "--batch", 2, "--steps", 1, "--rounds", 1)
    assert re.fullmatch(rf"train_step: paper/torchvision = {NUMBER} \(best of each: .+\)", line), line


def test_lrn_prints_ours_against_torch_and_lrns_share_of_a_step():
    line = summary_line("lrn.py", "--batch", 2, "--repeats", 1)
    assert re.fullmatch(rf"summary: ours {NUMBER}x faster than torch\.nn\.LocalResponseNorm .+ "
                        rf"LRN takes -?\d+% \(ours\) vs -?\d+% \(torch\) .+", line), line


def test_figure1_prints_the_seconds_both_curves_took(tiny_standin):
    line = summary_line("figure1.py", "--root", tiny_standin / "cifar10", "--epochs", 1)
    assert re.fullmatch(rf"figure1: both curves in {NUMBER} s on .+ \(50 images x 1 epochs each\)", line), line


def test_train_pipeline_prints_the_best_rate_and_its_arithmetic(tiny_standin, tiny_store):
    line = summary_line("train_pipeline.py", "--data", tiny_store, "--source", tiny_standin / "imagenet",
                        "--images", 8, "--batch", 4, "--peak-tflops", 1)
    assert re.fullmatch(rf"train_pipeline: best {NUMBER} img/s \(ours, .+\); {NUMBER} TFLOP/s of "
                        rf"training arithmetic \(4\.3 GFLOP/img\), {NUMBER}% of 1", line), line


def test_prepare_prints_read_rates_of_both_formats(tmp_path):
    line = summary_line("prepare.py", "--photos", 40, "--batch", 4, "--workers", 1, "--chunk-size", 10,
                        data=tmp_path)
    assert re.fullmatch(rf"prepare: photos, read img/s with 0 / 2 workers: jpeg [\d,]+ / [\d,]+, "
                        rf"raw [\d,]+ / [\d,]+", line), line


def test_every_recorded_figure_says_what_how_where_and_when():
    """A figure a chapter quotes carries its provenance, and the report gives the same value."""
    from datetime import date

    from alexnet_lib.config import recorded

    figures = json.loads((REPO_ROOT / "benchmarks" / "recorded.json").read_text())["figures"]
    report = (REPO_ROOT / "benchmarks" / "README.md").read_text().replace(",", "")
    for name in figures:
        figure = recorded(name)
        assert set(figure) == {"value", "unit", "what", "command", "machine", "torch", "date"}, name
        assert figure["command"].startswith("python benchmarks/") and date.fromisoformat(figure["date"])
        value = figure["value"] * 100 if figure["unit"] == "fraction" else figure["value"]
        shown = f"{value:g}%" if figure["unit"] == "fraction" else f"{value:g}"
        assert shown in report, f"{name}: {shown} is not in benchmarks/README.md"
