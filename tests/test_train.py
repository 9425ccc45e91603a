"""Tests of alexnet_lib.train: the seeded data order, an exact resume after kill -9, a diverged run
that keeps its last good checkpoint, one-line command-line errors, the nets the trainer builds.
(That the smoke recipe learns is checked where a reader sees it: the §6 chapter, book/11_results.)"""

from __future__ import annotations

import signal
import subprocess
import time
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from alexnet_lib.data.batches import epoch_batches
from alexnet_lib.data.store import open_prepared
from alexnet_lib.errors import AlexNetError
from alexnet_lib.models import TwoTowerAlexNet
from alexnet_lib.optim import DivideOnPlateau
from alexnet_lib.recipe import book_run, build_model, make_config
from alexnet_lib.run_state import start_run
from alexnet_lib.train import main
from clis import python_m

# A run small enough for two CPU cores: 2 epochs of 2 steps of 4 images, a checkpoint every 3 steps
# (so one falls in the middle of the second epoch), the paper net and recipe otherwise.
# The real pipeline (store, augmentation, checkpoints, several processes) with the "mini" net (the
# paper net's layers at ~1/16 width): a run in seconds, so the faults below can each be a real run.
TINY_RUN = ["--model", "mini", "--epochs", "2", "--batch-size", "4", "--epoch-images", "8",
            "--checkpoint-every", "3", "--lr", "0.01", "--workers", "0", "--no-progress"]
# Long enough (6 epochs of 5 steps) for a kill to land mid-run, a checkpoint every 3 steps.
LONG_RUN = ["--model", "mini", "--epochs", "6", "--batch-size", "4", "--checkpoint-every", "3",
            "--lr", "0.01", "--workers", "0", "--no-progress"]


def train_cli(*args, **popen):
    return python_m("alexnet_lib.train", *args, **popen)


def load(path):
    return torch.load(path, weights_only=True, map_location="cpu")


# --- the recipe -------------------------------------------------------------------------------

# Paper §5 and §4, typed from it: "a batch size of 128 examples, momentum of 0.9, and weight decay of
# 0.0005"; "The learning rate was initialized at 0.01", divided "by 10 when the validation error rate
# stopped improving", "reduced three times prior to termination"; "roughly 90 cycles through the
# training set"; dropout "with probability 0.5" (§4.2); the lighting alphas' "standard deviation 0.1" (§4.1).
PAPER_RECIPE = dict(batch_size=128, momentum=0.9, weight_decay=0.0005, lr=0.01, schedule="plateau", max_drops=3,
                    epochs=90, dropout=0.5, lighting=0.1)


def recipe_of(config) -> dict:
    return {name: getattr(config, name) for name in PAPER_RECIPE}


@pytest.mark.parametrize("profile", ["course", "paper"])
def test_course_and_paper_train_the_paper_net_with_the_papers_numbers(profile, tiny_store, tmp_path):
    config = make_config(profile=profile, data=str(tiny_store), out=str(tmp_path))
    assert recipe_of(config) == PAPER_RECIPE and (config.model, config.dropout_rule) == ("paper", "paper")
    # what the trainer builds from them: §5's update rule and its schedule
    state = start_run(replace(config, model="mini"), open_prepared(tiny_store), None, tmp_path, 0, 1,
                      torch.device("cpu"))
    group = state.optimizer.param_groups[0]
    assert (group["lr"], group["momentum"], group["weight_decay"]) == (0.01, 0.9, 0.0005)
    assert isinstance(state.schedule, DivideOnPlateau)
    assert (state.schedule.factor, state.schedule.max_drops) == (10, 3)


def test_the_chapters_run_is_the_smoke_recipe_cut_to_two_epochs_else_the_profiles_whole_run(tmp_path, monkeypatch):
    monkeypatch.setenv("ALEXNET_RUNS", str(tmp_path))
    monkeypatch.delenv("ALEXNET_IMAGENET", raising=False)
    runs = tmp_path.resolve()
    smoke, paper = book_run("smoke"), book_run("paper")
    # smoke: its profile's changes (PyTorch's init, batches of 16), two epochs, no progress bars, in
    # the folder the §6.1 chapter reads; the paper's numbers otherwise
    assert Path(smoke.out) == runs / "smoke-qualitative"
    assert (smoke.profile, smoke.init, smoke.batch_size, smoke.epochs, smoke.progress) == ("smoke", "pytorch", 16, 2, False)
    assert recipe_of(smoke) == PAPER_RECIPE | dict(batch_size=16, epochs=2)
    # paper: the whole run, where `python -m alexnet_lib.train --profile paper` puts it
    assert Path(paper.out) == runs / "paper"
    assert recipe_of(paper) == PAPER_RECIPE and (paper.init, paper.progress) == ("2012-code", True)


# The 2012 code's layers-145.cfg, typed from it: initW per layer; §5's biases (initB).
CODE_2012_WEIGHT_STD = {"conv1": 0.01, "conv2": 0.01, "conv3": 0.03, "conv4": 0.03, "conv5": 0.03,
                        "fc6": 0.01, "fc7": 0.01, "fc8": 0.01}
BIAS = {"conv1": 0.0, "conv2": 1.0, "conv3": 0.0, "conv4": 1.0, "conv5": 1.0, "fc6": 1.0, "fc7": 1.0, "fc8": 0.0}


@pytest.mark.parametrize("profile", ["course", "paper"])
def test_course_and_paper_build_the_2012_codes_initialisation(profile):
    torch.manual_seed(0)
    net = build_model(make_config(profile=profile), 1000, torch.device("cpu"))
    layers = {name.rsplit(".", 1)[-1]: m for name, m in net.named_modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))}
    assert sorted(layers) == sorted(CODE_2012_WEIGHT_STD)
    for name, layer in layers.items():
        w = layer.weight.detach().double()
        assert abs(w.mean().item()) < 0.002 and w.std().item() == pytest.approx(CODE_2012_WEIGHT_STD[name], rel=0.03), name
        assert torch.all(layer.bias == BIAS[name]), name


@pytest.mark.parametrize("init, conv3_std, fc6_std, conv2_bias", [
    ("paper", 0.01, 0.01, 1.0), ("caffe", 0.01, 0.005, 0.1), ("he", (2 / (3 * 3 * 256)) ** 0.5, (2 / 9216) ** 0.5, 0.0)])
def test_every_init_of_the_section_5_chapter_is_one_flag_away(init, conv3_std, fc6_std, conv2_bias):
    torch.manual_seed(0)
    net = build_model(make_config(profile="paper", init=init), 10, torch.device("cpu"))
    f = net.features
    assert f.conv3.weight.std().item() == pytest.approx(conv3_std, rel=0.03)
    assert net.classifier.fc6.weight.std().item() == pytest.approx(fc6_std, rel=0.03)
    assert torch.all(f.conv2.bias == conv2_bias)


def test_help_names_the_default_init_and_where_the_recipe_differs_from_the_printed_paper(capsys):
    with pytest.raises(SystemExit):
        main(["--profile", "paper", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "2012-code (default under course and paper" in text
    assert "conv3, conv4 and conv5 weights from N(0, 0.03)" in text and "(--init paper)" in text


def test_a_disk_too_small_for_the_checkpoints_is_refused_before_the_first_step(tiny_store, tmp_path, monkeypatch):
    import shutil
    from alexnet_lib import run_folder

    real = shutil.disk_usage
    monkeypatch.setattr(run_folder.shutil, "disk_usage",
                        lambda path: real(path)._replace(free=100_000))  # 0.1 MB: the mini net needs ~0.6
    out = tmp_path / "run"
    config = make_config(profile="smoke", model="mini", data=str(tiny_store), out=str(out), epochs=1,
                         batch_size=4, progress=False)
    with pytest.raises(AlexNetError, match=r"has 0 MB free; this run's checkpoints need about 1 MB") as err:
        from alexnet_lib.train import train
        train(config)
    assert "choose another --out" in str(err.value)
    assert not (out / "checkpoint.pt").exists() and not (out / "log.csv").exists()


# --- the data order ---------------------------------------------------------------------------

def test_epoch_batches_are_a_seeded_permutation_of_whole_batches():
    batches = epoch_batches(103, 10, seed=7, epoch=3)
    flat = [i for batch in batches for i in batch]
    assert [len(b) for b in batches] == [10] * 10  # the last 3 images wait for another epoch
    assert len(set(flat)) == 100 and set(flat) <= set(range(103))  # each image at most once
    assert epoch_batches(103, 10, seed=7, epoch=3) == batches  # a function of (seed, epoch) alone
    assert epoch_batches(103, 10, seed=7, epoch=4) != batches
    assert epoch_batches(103, 10, seed=8, epoch=3) != batches
    # --epoch-images keeps the start of the same permutation
    assert epoch_batches(103, 10, seed=7, epoch=3, epoch_images=25) == batches[:2]


def test_processes_split_each_batch_of_the_one_process_order():
    whole = epoch_batches(64, 16, seed=0, epoch=1)
    parts = [epoch_batches(64, 16, seed=0, epoch=1, rank=r, world=4) for r in range(4)]
    for b, batch in enumerate(whole):
        assert [i for part in parts for i in part[b]] == batch
        assert all(len(part[b]) == 4 for part in parts)


# --- checkpoints ------------------------------------------------------------------------------

def test_resume_after_kill_9_ends_with_the_weights_of_an_uninterrupted_run(tiny_store, tmp_path):
    whole = train_cli(*LONG_RUN, "--data", tiny_store, "--out", tmp_path / "whole")
    assert whole.returncode == 0, whole.stderr

    # The same run, killed (SIGKILL: no cleanup) as soon as a checkpoint exists
    killed = tmp_path / "killed"
    run = train_cli(*LONG_RUN, "--data", tiny_store, "--out", killed,
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and run.poll() is None and not (killed / "checkpoint.pt").is_file():
        time.sleep(0.01)
    run.send_signal(signal.SIGKILL)
    assert run.wait() == -signal.SIGKILL, "the run ended before it could be killed"
    step = load(killed / "checkpoint.pt")["step"]
    assert 3 <= step < 30, step  # somewhere in the run's 30 steps

    resumed = train_cli(*LONG_RUN, "--data", tiny_store, "--out", killed, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert f"resumed at step {step}" in resumed.stdout

    assert_same_end(tmp_path / "whole", killed, steps=30, epochs=6)


def assert_same_end(whole, resumed, steps=4, epochs=2):
    """The two runs' last checkpoints hold the same weights, velocities and log (timings aside)."""
    a, b = load(whole / "checkpoint.pt"), load(resumed / "checkpoint.pt")
    assert a["step"] == b["step"] == steps and a["epoch"] == b["epoch"] == epochs
    assert a["model"].keys() == b["model"].keys()
    for name in a["model"]:
        assert torch.equal(a["model"][name], b["model"][name]), name
    for state_a, state_b in zip(a["optimizer"]["state"].values(), b["optimizer"]["state"].values()):
        assert torch.equal(state_a["velocity"], state_b["velocity"])
    timing = {"images_per_s", "seconds"}
    assert [{k: v for k, v in row.items() if k not in timing} for row in a["history"]] == [
        {k: v for k, v in row.items() if k not in timing} for row in b["history"]]
    log = (resumed / "log.csv").read_text().splitlines()
    assert log[0].startswith("epoch,lr,train_loss") and len(log) == 1 + epochs  # header + epochs


def test_diverged_run_stops_with_one_line_and_keeps_the_last_good_checkpoint(tiny_store, tmp_path):
    out = tmp_path / "diverged"
    run = train_cli("--model", "mini", "--epochs", "1", "--batch-size", "4", "--epoch-images", "12",
                    "--lr", "1e6", "--checkpoint-every", "1", "--workers", "0", "--no-progress",
                    "--data", tiny_store, "--out", out)
    assert run.returncode == 1
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in run.stderr
    assert "became NaN or infinite at step" in lines[0] and "lr 1e+06" in lines[0]
    bad_step = int(lines[0].split("at step ")[1].split()[0])
    saved = load(out / "checkpoint.pt")
    assert f"checkpoint.pt, step {saved['step']}) is kept" in lines[0]
    assert saved["step"] < bad_step
    assert all(t.isfinite().all() for t in saved["model"].values())


# --- the command line -------------------------------------------------------------------------

@pytest.mark.parametrize("argv, message", [
    (["--batch-size", "x"], "argument --batch-size: invalid int value: 'x'"),
    (["--bogus"], "unrecognized arguments: --bogus"),
    (["--model", "resnet"], "argument --model: invalid choice: 'resnet'"),
])
def test_bad_flags_print_one_line(argv, message, capsys):
    with pytest.raises(SystemExit) as exit:
        main(argv)
    assert exit.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err


def test_user_errors_print_one_line(tiny_store, tmp_path):
    a_file = tmp_path / "a_file"
    a_file.write_text("")
    cases = {
        "--batch-size 0: use a whole number >= 1": ["--batch-size", "0"],
        "--lr -1.0: use a learning rate > 0": ["--lr", "-1"],
        "There is no prepared ImageNet at": ["--data", tmp_path / "nothing", "--out", tmp_path / "o"],
        "Cannot write to the output folder": ["--data", tiny_store, "--out", a_file / "run"],
        "is more than the 20 training images": ["--data", tiny_store, "--out", tmp_path / "o",
                                                 "--batch-size", "64"],
    }
    if torch.cuda.device_count() < 2:
        cases["--model two-tower puts one tower on each of two GPUs"] = [
            "--data", tiny_store, "--out", tmp_path / "o", "--model", "two-tower"]
    for message, argv in cases.items():
        with pytest.raises(SystemExit) as exit:
            main([str(a) for a in argv])
        assert str(exit.value.code).startswith("error: ") and message in str(exit.value.code)
        assert "\n" not in str(exit.value.code)


def test_a_run_is_continued_only_with_resume_and_its_own_recipe(tiny_store, tmp_path):
    out = tmp_path / "run"
    first = ["--data", tiny_store, "--out", out, *TINY_RUN]
    main([str(a) for a in first] + ["--stop-after", "1"])
    assert load(out / "checkpoint.pt")["step"] == 1
    # settings resolve as defaults, then the profile's, then the flags, then the resumed run's:
    smoke = make_config(profile="smoke", lr=0.02)
    assert (smoke.momentum, smoke.batch_size, smoke.lr) == (0.9, 16, 0.02)
    resumed = make_config(resume=True, profile="smoke", out=str(out), epochs=5, batch_size=4)
    assert (resumed.model, resumed.batch_size, resumed.epoch_images, resumed.epochs) == ("mini", 4, 8, 5)
    assert make_config(resume=True, profile="smoke", out=str(tmp_path / "new")).model == "paper"  # none to resume
    for argv, message in [([], "already holds a run (checkpoint.pt): add --resume"),
                          (["--resume", "--lr", "0.1"], "--lr 0.1 differs from the run in")]:
        with pytest.raises(SystemExit) as exit:
            main([str(a) for a in first] + argv)
        assert message in str(exit.value.code)


def test_a_missing_store_is_one_line_from_the_command_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit:
        main(["--data", str(tmp_path / "nothing"), "--out", str(tmp_path / "out")])
    message = str(exit.value.code)
    assert capsys.readouterr().out == "" and "\n" not in message
    assert message.startswith("error: There is no prepared ImageNet")


# --- the nets ---------------------------------------------------------------------------------

def test_the_trainers_paper_model_is_the_two_tower_net():
    # The trainer's --model paper is the net the two GPUs computed: conv2/4/5 in two towers and LRN
    # within each tower (test_models checks that this AlexNet and TwoTowerAlexNet agree in float64).
    net = build_model(make_config(profile="paper"), 1000, torch.device("cpu"))
    f = net.features
    assert (f.conv2.groups, f.conv4.groups, f.conv5.groups, f.conv3.groups) == (2, 2, 2, 1)
    assert f.lrn1.groups == f.lrn2.groups == 2
    assert TwoTowerAlexNet.from_grouped(net).fc8.out_features == 1000  # refuses any other net


def test_remove_conv_builds_section_7_ablation_with_conv4s_parameters_gone():
    # conv4 holds 663,936 of the paper net's 60,965,224 parameters (3*3*192*192 + 384 biases x 2 towers);
    # without it conv5 reads conv3's 384 maps in 2 groups: the same 3*3*192 inputs per kernel.
    config = make_config(profile="smoke", remove_conv="conv4")
    net = build_model(config, 1000, torch.device("cpu"))
    assert "conv4" not in net.features._modules
    assert sum(p.numel() for p in net.parameters()) == 60_965_224 - 663_936


def test_remove_conv_with_another_model_is_one_clear_error():
    config = make_config(profile="smoke", model="one-gpu", remove_conv="conv3")
    with pytest.raises(AlexNetError, match="--model paper"):
        build_model(config, 10, torch.device("cpu"))


def test_the_log_reads_back_as_written(tmp_path):
    """`read_csv` is `write_csv` undone: epochs as ints, the rest as floats; no log yet: no rows."""
    from alexnet_lib.run_folder import LOG_COLUMNS, read_csv, write_csv

    rows = [{c: (e + 1 if c == "epoch" else 0.25 * e + i / 8) for i, c in enumerate(LOG_COLUMNS)} for e in range(3)]
    assert read_csv(tmp_path / "log.csv") == []
    write_csv(tmp_path / "log.csv", [{**r, "not a column": 1} for r in rows])
    back = read_csv(tmp_path / "log.csv")
    assert back == rows and all(type(r["epoch"]) is int for r in back)
