"""The training pipeline under faults: each interruption or bad input ends in one line, nothing is lost.

Each test provokes one fault for real where it can (a second trainer, kill -9, SIGINT, a store with
other classes) and by patching where it cannot (a full disk: ``torch.save`` fails as it does then).
The runs use the trainer's "mini" net, so each is a real run of the pipeline in seconds.
"""

from __future__ import annotations

import errno
import fcntl
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from alexnet_lib import files
from alexnet_lib.data.prepare import main as prepare_main
from alexnet_lib.data.prepare import prepare_imagenet
from alexnet_lib.data.standin import main as standin_main
from alexnet_lib.data.store import WORK, open_prepared
from alexnet_lib.errors import AlexNetError
from alexnet_lib.evaluate import table2
from alexnet_lib.run_folder import check_store, load_checkpoint, running
from alexnet_lib.train import main as train_main
from clis import python_m as cli
from clis import waiting_on

RUN = ["--model", "mini", "--epochs", "2", "--batch-size", "4", "--epoch-images", "8",
       "--checkpoint-every", "1", "--lr", "0.01", "--workers", "0", "--no-progress"]
LONG = ["--model", "mini", "--epochs", "400", "--batch-size", "4", "--checkpoint-every", "3",
        "--lr", "0.01", "--workers", "0", "--no-progress"]  # minutes: it is always stopped


def one_line(text: str) -> str:
    assert "Traceback" not in text, text
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    return lines[0]


def exit_message(exit: pytest.ExceptionInfo) -> str:
    return one_line(str(exit.value.code))


def wait_for(condition, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def lock_is_free(path: Path) -> bool:
    """Whether no process holds the flock on ``path`` (taken and released at once to find out)."""
    with open(path) as file:
        try:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        fcntl.flock(file, fcntl.LOCK_UN)
        return True


def variant_store(tiny_standin: Path, tmp_path: Path, change) -> Path:
    """A copy of the tiny stand-in's ImageNet, changed by ``change(root)``, prepared as a store."""
    source = tmp_path / "source"
    shutil.copytree(tiny_standin / "imagenet", source)
    change(source)
    return prepare_imagenet(source, tmp_path / "store", workers=1, format="raw", progress=False).path


# --- 1. resume with other data --------------------------------------------------------------------

def drop_a_class(root):
    for split in ("train", "val"):
        shutil.rmtree(root / split / "n01440764")


def rename_a_class(root):  # same count, another wnid
    for split in ("train", "val"):
        (root / split / "n01440764").rename(root / split / "n01443537")


def drop_an_image(root):  # same classes, other images
    (root / "train" / "n01440764" / "n01440764_1.JPEG").unlink()


@pytest.mark.parametrize("change, says", [(drop_a_class, "9 classes against the run's 10"),
                                          (rename_a_class, "other classes than the run's"),
                                          (drop_an_image, "other images than the run's")])
def test_resume_with_another_store_refuses_in_one_line(tiny_standin, tiny_store, tmp_path, change, says):
    out = tmp_path / "run"
    train_main([*RUN, "--data", str(tiny_store), "--out", str(out), "--stop-after", "1"])
    before = (out / "checkpoint.pt").read_bytes()
    other = variant_store(tiny_standin, tmp_path / "other", change)
    with pytest.raises(SystemExit) as exit:
        train_main([*RUN, "--data", str(other), "--out", str(out), "--resume"])
    message = exit_message(exit)
    assert message.startswith("error: ") and says in message and "--data" in message
    assert (out / "checkpoint.pt").read_bytes() == before  # untouched
    # the same store moved elsewhere is the run's own: resuming from it is fine
    moved = tmp_path / "moved"
    shutil.copytree(tiny_store, moved)
    train_main([*RUN, "--data", str(moved), "--out", str(out), "--resume"])
    assert load_checkpoint(out / "checkpoint.pt")["epoch"] == 2


# --- 2. two trainers, one folder; stale partial files --------------------------------------------

def test_a_second_trainer_on_a_folder_in_use_refuses_naming_the_first(tiny_store, tmp_path, capsys):
    out = tmp_path / "run"
    first = cli("alexnet_lib.train", *LONG, "--data", tiny_store, "--out", out,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: (out / "lock").is_file() and f"process {first.pid}" in (out / "lock").read_text())
        with pytest.raises(SystemExit) as exit:  # the second trainer: this process
            train_main([*map(str, LONG), "--data", str(tiny_store), "--out", str(out), "--resume"])
        line = exit_message(exit)
        assert "Another trainer is using" in line and f"process {first.pid}" in line and first.poll() is None
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    # On a loaded machine the killed trainer's flock can still be held just after wait() returns: wait
    # until it is free (a lock that is never freed fails here).
    wait_for(lambda: lock_is_free(out / "lock"), seconds=60)
    # kill -9 left the lock file naming the dead trainer, and maybe a partial file: the next takes over
    (out / "checkpoint.pt.99999.partial").write_bytes(b"half a checkpoint")
    capsys.readouterr()
    train_main([*map(str, LONG), "--data", str(tiny_store), "--out", str(out), "--resume", "--epochs", "1"])
    assert "stopped without cleaning up: taking over" in capsys.readouterr().out
    assert not list(out.glob("*.partial")) and (out / "lock").read_text() == ""


# --- 3. disk full -----------------------------------------------------------------------------------

def full_disk(monkeypatch, after_bytes: int = 1000):
    """``torch.save`` fails as on a full disk (RuntimeError from its zip writer), and the disk is full."""
    real_save = torch.save

    def save(obj, file, *args, **kwargs):
        file.write(b"x" * after_bytes)
        raise RuntimeError("[enforce fail at inline_container.cc:858] . PytorchStreamWriter failed writing "
                           "file data/0: file write failed")

    monkeypatch.setattr(torch, "save", save)
    monkeypatch.setattr(files.shutil, "disk_usage", lambda path: SimpleNamespace(free=4096))
    return real_save


def test_a_full_disk_ends_in_one_line_and_keeps_the_last_checkpoint(tiny_store, tmp_path, monkeypatch):
    out = tmp_path / "run"
    train_main([*RUN, "--data", str(tiny_store), "--out", str(out), "--stop-after", "2"])
    before = (out / "checkpoint.pt").read_bytes()
    full_disk(monkeypatch)
    # the disk fills during the run, after the start's check that it can hold the checkpoints
    # (test_train.py::test_a_disk_too_small_for_the_checkpoints_is_refused_before_the_first_step)
    monkeypatch.setattr("alexnet_lib.run_state.check_room", lambda out, net: None)
    with pytest.raises(SystemExit) as exit:
        train_main([*RUN, "--data", str(tiny_store), "--out", str(out), "--resume"])
    message = exit_message(exit)
    assert "No space left on the disk" in message and "MB are free" in message and "--resume" in message
    assert not list(out.glob("*.partial"))
    assert (out / "checkpoint.pt").read_bytes() == before


def test_a_full_disk_while_preparing_ends_in_one_line_without_partial_files(tiny_standin, tmp_path, monkeypatch):
    def no_space(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(files.os, "fsync", no_space)
    with pytest.raises(SystemExit) as exit:
        prepare_main(["--source", str(tiny_standin / "imagenet"), "--out", str(tmp_path / "store"),
                      "--workers", "1", "--format", "raw"])
    message = exit_message(exit)
    assert message.startswith("error: No space left on the disk") and "run the same command again" in message
    assert not list((tmp_path / "store").rglob("*.partial"))


# --- 4. TensorBoard after a resume ----------------------------------------------------------------------

def scalars(out: Path) -> dict[str, list[tuple[int, float]]]:
    """Every scalar curve of a run's TensorBoard log, read by TensorBoard's own reader."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(out / "tensorboard"), purge_orphaned_data=True).Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def test_tensorboard_curves_after_a_kill_and_resume_equal_an_uninterrupted_runs(tiny_store, tmp_path):
    run = [*RUN, "--log-every", "1", "--data", str(tiny_store)]
    train_main([*run, "--out", str(tmp_path / "whole")])
    out = tmp_path / "killed"
    # TensorBoard reads a folder's event files in the order of their names, which start with the second
    # each was opened: runs of one folder a second apart, as processes that start in seconds always are.
    train_main([*run, "--out", str(out), "--stop-after", "3"])  # epoch 2, step 1 of 2
    kept = (out / "checkpoint.pt").read_bytes()
    time.sleep(1.1)
    train_main([*run, "--out", str(out), "--resume"])  # logs step 4 and the epoch-2 curves...
    (out / "checkpoint.pt").write_bytes(kept)  # ...then "dies" before its checkpoint lands
    time.sleep(1.1)
    train_main([*run, "--out", str(out), "--resume"])
    whole, resumed = scalars(tmp_path / "whole"), scalars(out)
    assert "train/loss" in whole and "epoch/val_top1" in whole
    timing = {"epoch/images_per_s", "epoch/seconds"}
    assert {t: v for t, v in resumed.items() if t not in timing} == {t: v for t, v in whole.items() if t not in timing}
    assert [step for step, _ in resumed["epoch/seconds"]] == [step for step, _ in whole["epoch/seconds"]]


# --- 5. empty splits --------------------------------------------------------------------------------

def test_a_store_without_readable_validation_images_is_refused_by_prepare(tiny_standin, tmp_path):
    def break_val(root):
        for image in (root / "val").rglob("*.JPEG"):
            image.write_bytes(b"not a JPEG")

    with pytest.raises(AlexNetError, match="No val image .* could be read"):
        variant_store(tiny_standin, tmp_path, break_val)


def test_a_class_without_readable_training_images_is_a_warning(tiny_standin, tmp_path):
    def break_class(root):
        for image in (root / "train" / "n01440764").glob("*.JPEG"):
            image.write_bytes(b"")

    with pytest.warns(UserWarning, match=r"1 class\(es\) have no readable training image \(tench \(n01440764\)\)"):
        variant_store(tiny_standin, tmp_path, break_class)


def test_train_checks_the_store_before_its_first_step():
    empty_val = SimpleNamespace(path=Path("/data/store"), split_sizes={"train": {"images": 20}, "val": {"images": 0}})
    with pytest.raises(AlexNetError, match="no readable val image"):
        check_store(empty_val)


# --- 6. Ctrl-C --------------------------------------------------------------------------------------

def test_ctrl_c_during_a_checkpoint_write_is_one_line_and_leaves_no_partial_file(tiny_store, tmp_path, monkeypatch):
    def interrupted_save(obj, file, *args, **kwargs):
        file.write(b"x" * 100)
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt:  # as the zip writer does: its own error, raised while unwinding
            raise RuntimeError("[enforce fail at inline_container.cc:664] . unexpected pos 64 vs 0")

    out = tmp_path / "run"
    monkeypatch.setattr(torch, "save", interrupted_save)
    with pytest.raises(SystemExit) as exit:
        train_main([*RUN, "--data", str(tiny_store), "--out", str(out)])
    assert exit_message(exit) == "interrupted: continue from the last checkpoint with --resume."
    assert not list(out.glob("*.partial"))


def test_sigint_ends_training_in_one_line(tiny_store, tmp_path):
    out = tmp_path / "run"
    process = cli("alexnet_lib.train", *LONG, "--data", tiny_store, "--out", out,
                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wait_for(lambda: (out / "checkpoint.pt").is_file())
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 1
    assert one_line(stderr) == "interrupted: continue from the last checkpoint with --resume."


def test_sigint_ends_a_prepare_in_one_line_and_the_same_command_continues(tiny_standin, tmp_path):
    """Ctrl-C while one worker waits for an image that never comes and the other has finished chunks:
    so the prepare is always interrupted, never done first."""
    source, out = tmp_path / "source", tmp_path / "store"
    shutil.copytree(tiny_standin / "imagenet", source)
    args = ["--source", source, "--out", out, "--workers", "2", "--chunk-size", "2"]
    with waiting_on(sorted((source / "train").rglob("*.JPEG"))[0]):  # in the first chunk
        process = cli("alexnet_lib.data.prepare", *args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            wait_for(lambda: any((out / WORK / "train").glob("*.pt")) or process.poll() is not None)
            assert process.poll() is None, process.communicate()
            process.send_signal(signal.SIGINT)
            _, stderr = process.communicate(timeout=120)
        finally:
            process.kill()  # if the test failed before its Ctrl-C
    lines = [line for line in stderr.splitlines() if line.strip() and not line.startswith("prepare ")]
    assert process.returncode == 1 and "Traceback" not in stderr and lines == [
        "interrupted: run the same command again to continue where it stopped."], stderr
    # Nothing half-written under a final name: no meta.json, and each chunk marked done has all its bytes.
    assert not (out / "meta.json").exists()
    done = {}
    for record in (out / WORK).glob("*/*.pt"):
        shard = out / record.parent.name / f"{record.stem}.jpeg"
        assert shard.stat().st_size == torch.load(record, weights_only=True)["offsets"][-1], shard
        done[shard] = shard.stat().st_ino
    assert 1 <= len(done) < 15  # 10 train and 5 val chunks; the first never ends

    again = cli("alexnet_lib.data.prepare", *args)
    assert again.returncode == 0, again.stderr
    assert {shard: shard.stat().st_ino for shard in done} == done  # the finished chunks were not redone
    sizes = open_prepared(out).split_sizes
    assert (sizes["train"]["images"], sizes["val"]["images"], sizes["train"]["skipped"]) == (20, 10, 0)
    assert not list(out.rglob("*.partial")) and not (out / WORK).exists()


# --- 7. small ones ----------------------------------------------------------------------------------

def test_resume_of_a_finished_run_says_there_is_nothing_to_do(tiny_store, tmp_path, capsys):
    out = tmp_path / "run"
    train_main([*RUN, "--data", str(tiny_store), "--out", str(out)])
    capsys.readouterr()
    train_main([*RUN, "--data", str(tiny_store), "--out", str(out), "--resume"])
    assert capsys.readouterr().out.strip() == (f"Nothing to do: the run in {out} finished at epoch 2 of 2 "
                                               "(add --epochs N to train it further).")


def test_a_truncated_checkpoint_says_what_to_do(tiny_store, tmp_path):
    out = tmp_path / "run"
    train_main([*RUN, "--data", str(tiny_store), "--out", str(out), "--stop-after", "1"])
    (out / "checkpoint.pt").write_bytes((out / "checkpoint.pt").read_bytes()[:1000])
    with pytest.raises(SystemExit) as exit:
        train_main([*RUN, "--data", str(tiny_store), "--out", str(out), "--resume"])
    message = exit_message(exit)
    assert "Cannot read the checkpoint" in message and "delete it and start the run again" in message


def test_standin_into_an_unwritable_root_is_one_line(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")  # a file where a folder should be: unwritable even for root
    with pytest.raises(SystemExit) as exit:
        standin_main(["--root", str(blocker / "standin")])
    assert exit_message(exit).startswith("error: cannot write the stand-in under")


def test_prepare_errors_carry_the_error_prefix(tmp_path):
    with pytest.raises(SystemExit) as exit:
        prepare_main(["--source", str(tmp_path / "nothing"), "--out", str(tmp_path / "store")])
    assert exit_message(exit).startswith("error: ")


def test_table2_names_top_k_when_there_are_fewer_than_5_classes():
    info = dict(source="two classes", images=4, classes=2, model="mini", epoch=1, device="CPU")
    header = table2({1: {1: 0.5, 5: 0.0}}, info).splitlines()[0]
    assert "this checkpoint: top-2, 2 classes" in header


# --- DDP: kill -9 of one rank ----------------------------------------------------------------------------

def test_two_processes_one_killed_and_resumed_end_like_an_uninterrupted_pair(tiny_store, tmp_path):
    """torchrun --nproc_per_node=2 on the CPU (gloo); rank 1 is killed with SIGKILL mid-run."""
    run = ["--model", "mini", "--epochs", "3", "--batch-size", "4", "--checkpoint-every", "3", "--lr", "0.01",
           "--workers", "0", "--no-progress", "--data", tiny_store]

    def torchrun(out, *extra, **popen):
        command = ["torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "alexnet_lib.train",
                   *run, "--out", out, *extra]
        return cli(command[0], *command[1:], **popen)

    whole = torchrun(tmp_path / "whole")
    assert whole.returncode == 0 and "2 process(es)" in whole.stdout, whole.stderr

    out = tmp_path / "killed"
    agent = torchrun(out, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(lambda: (out / "checkpoint.pt").is_file() or agent.poll() is not None)
    rank1 = [pid for pid in children(agent.pid) if b"RANK=1\x00" in Path(f"/proc/{pid}/environ").read_bytes()]
    assert agent.poll() is None and rank1, "the run ended before a rank could be killed"
    os.kill(rank1[0], signal.SIGKILL)
    assert agent.wait(timeout=120) != 0  # torchrun stops the other rank and fails
    step = load_checkpoint(out / "checkpoint.pt")["step"]
    assert 3 <= step < 15, step

    resumed = torchrun(out, "--resume")
    assert resumed.returncode == 0 and f"resumed at step {step}" in resumed.stdout, resumed.stderr
    a, b = load_checkpoint(tmp_path / "whole" / "checkpoint.pt"), load_checkpoint(out / "checkpoint.pt")
    assert a["step"] == b["step"] == 15
    for name in a["model"]:
        assert torch.equal(a["model"][name], b["model"][name]), name


def children(pid: int) -> list[int]:
    """Every descendant process of ``pid``, from /proc/<pid>/stat's parent field."""
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process just ended
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        kids = [child for child, p in parents.items() if p == parent]
        found += kids
        todo += kids
    return found


def test_running_is_true_only_for_a_live_process_named_in_the_pid_file(tmp_path):
    pid_file = tmp_path / "train.pid"
    assert not running(pid_file)  # no file yet
    pid_file.write_text(str(os.getpid()))
    assert running(pid_file)
    finished = subprocess.Popen(["true"])
    finished.wait()
    pid_file.write_text(str(finished.pid))
    assert not running(pid_file)  # ended and reaped
    pid_file.write_text("")
    assert not running(pid_file)  # a file cut short by a crash
