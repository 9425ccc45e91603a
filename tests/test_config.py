"""Tests of alexnet_lib.config: profiles, paths shown on pages, seeding, malloc settings."""

import ctypes
import ctypes.util
import json
import os
import random
import shutil
import subprocess
import sys
import textwrap

import pytest
import torch

from alexnet_lib.config import REPO_ROOT, banner, display_path, get_profile, runs_root, seed_everything, shrink, sized
from alexnet_lib.errors import AlexNetError


def test_unknown_profile_is_one_error_naming_the_valid_ones(monkeypatch):
    monkeypatch.setenv("ALEXNET_PROFILE", "fast")
    with pytest.raises(AlexNetError, match="smoke, course, paper"):
        get_profile()


def test_profile_defaults_to_smoke(monkeypatch):
    monkeypatch.delenv("ALEXNET_PROFILE", raising=False)
    assert get_profile().name == "smoke"
    assert get_profile(" Course ").name == "course"


SETTINGS = {"smoke": dict(n_train=1000, epochs=7),
            "course": dict(n_train=50_000, n_val=10_000, epochs=(15, 3), seeds=(0, 1, 2), batch=128, lr=0.01,
                           removed=("conv3", "conv4"), patience=3)}


def test_sized_is_the_profiles_entry_and_a_dry_run_shrinks_only_its_counts(monkeypatch):
    monkeypatch.delenv("ALEXNET_DRY_RUN", raising=False)
    assert sized(SETTINGS, "course") == SETTINGS["course"] and sized(SETTINGS, "smoke") == SETTINGS["smoke"]
    monkeypatch.setenv("ALEXNET_DRY_RUN", "0")
    assert sized(SETTINGS, "course") == SETTINGS["course"]
    monkeypatch.setenv("ALEXNET_DRY_RUN", "1")
    # by hand from DRY_RUN_SIZES: 256 images, 128 held out, 1 epoch per phase, 2 seeds, batch 16
    assert sized(SETTINGS, "course") == dict(n_train=256, n_val=128, epochs=(1, 1), seeds=(0, 1), batch=16, lr=0.01,
                                             removed=("conv3", "conv4"), patience=3)
    assert sized(SETTINGS, "smoke") == dict(n_train=256, epochs=1)
    # a size the dry run does not know is an error, not left at its full value
    with pytest.raises(AlexNetError, match="does not know the size.* n_training"):
        sized({"smoke": dict(n_training=60_000)}, "smoke")
    assert shrink(dict(n_training=60_000), keep=("n_training",)) == dict(n_training=60_000)


def test_paths_inside_the_repo_are_shown_relative(tmp_path):
    assert display_path(REPO_ROOT / "data") == "data"
    assert display_path(tmp_path) == str(tmp_path)


def test_runs_go_to_alexnet_runs_and_are_shown_under_its_name(tmp_path, monkeypatch):
    monkeypatch.delenv("ALEXNET_RUNS", raising=False)
    assert runs_root() == REPO_ROOT / "runs"
    assert display_path(runs_root() / "smoke") == "runs/smoke"
    monkeypatch.setenv("ALEXNET_RUNS", str(tmp_path))
    assert runs_root() == tmp_path.resolve()
    assert display_path(tmp_path / "smoke" / "best.pt") == "$ALEXNET_RUNS/smoke/best.pt"


def test_banner_shows_no_absolute_repo_path(monkeypatch):
    monkeypatch.delenv("ALEXNET_DATA", raising=False)
    monkeypatch.delenv("ALEXNET_PROFILE", raising=False)
    text = banner()
    assert "data    : data/\n" in text and str(REPO_ROOT) not in text


def test_seed_everything_repeats_python_and_torch_draws():
    seed_everything(3)
    first = (random.random(), torch.rand(3))
    seed_everything(3)
    second = (random.random(), torch.rand(3))
    assert first[0] == second[0] and torch.equal(first[1], second[1])


def _has_mallinfo2() -> bool:
    path = ctypes.util.find_library("c")
    return bool(path) and hasattr(ctypes.CDLL(path), "mallinfo2")


@pytest.mark.skipif(not _has_mallinfo2(), reason="needs glibc >= 2.33 (mallinfo2)")
def test_keep_freed_memory_serves_large_tensors_from_the_heap_and_keeps_them():
    # glibc's own accounting (mallinfo2) in a fresh process: a 100 MB tensor is first an mmap of
    # its own (hblkhd grows by 100 MB, and shrinks again when it is freed); after
    # keep_freed_memory() it comes from the heap (arena: at least 90 MB more, the rest may have been
    # free there already), which still holds it after the free.
    script = textwrap.dedent("""
        import ctypes, ctypes.util, json, torch
        from alexnet_lib.config import keep_freed_memory

        class Info(ctypes.Structure):
            _fields_ = [(name, ctypes.c_size_t) for name in (
                "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split())]

        libc = ctypes.CDLL(ctypes.util.find_library("c"))
        libc.mallinfo2.restype = Info
        MB = 2**20

        def grows(make):
            before = libc.mallinfo2()
            tensor = make()
            during = libc.mallinfo2()
            del tensor
            after = libc.mallinfo2()
            return [(getattr(during, f) - getattr(before, f)) // MB for f in ("hblkhd", "arena")] + [
                (getattr(after, f) - getattr(before, f)) // MB for f in ("hblkhd", "arena")]

        default = grows(lambda: torch.ones(100 * MB // 4))
        assert keep_freed_memory()
        kept = grows(lambda: torch.ones(100 * MB // 4))
        print(json.dumps([default, kept]))
        """)
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                         cwd=REPO_ROOT)
    default, kept = json.loads(run.stdout)
    mmap_during, heap_during, mmap_after, heap_after = default
    assert mmap_during >= 100 and mmap_after == 0  # by default: mapped, and unmapped on free
    mmap_during, heap_during, mmap_after, heap_after = kept
    assert mmap_during == 0 and heap_during >= 90 and heap_after >= 90  # kept: heap, not unmapped


def test_an_installed_copy_uses_the_current_folder_and_says_where_the_stored_results_are(tmp_path):
    # The package alone, as a wheel installs it (no _toc.yml beside it), imported from another folder
    site, work = tmp_path / "site-packages", tmp_path / "work"
    shutil.copytree(REPO_ROOT / "alexnet_lib", site / "alexnet_lib", ignore=shutil.ignore_patterns("__pycache__"))
    work.mkdir()
    script = textwrap.dedent("""
        import json, alexnet_lib
        from alexnet_lib.config import data_root, recorded, runs_root
        from alexnet_lib.errors import AlexNetError
        from alexnet_lib.experiments.record import load_result, provenance
        errors = []
        for call in (lambda: recorded("train_step"), lambda: load_result("figure1")):
            try:
                call()
            except AlexNetError as err:
                errors.append(str(err))
        print(json.dumps([alexnet_lib.__file__, str(data_root()), str(runs_root()), errors,
                          provenance("x", __import__("torch").device("cpu"))["commit"]]))
        """)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALEXNET_")} | {"PYTHONPATH": str(site)}
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=work, env=env)
    where, data, runs, errors, commit = json.loads(run.stdout)
    assert where == str(site / "alexnet_lib" / "__init__.py")
    assert (data, runs) == (str(work / "data"), str(work / "runs"))
    assert len(errors) == 2 and all("an installed copy" in e and "pip install -e <clone>" in e for e in errors)
    assert commit is None  # the current folder's git is not this code's
    help_text = subprocess.run([sys.executable, "-m", "alexnet_lib.train", "--help"], capture_output=True,
                               text=True, check=True, cwd=work, env=env).stdout
    assert "--profile" in help_text
