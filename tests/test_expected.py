"""Tests of alexnet_lib.expected: the expected time a long loop prints at its start."""

import pytest
import torch
from torch import nn

import alexnet_lib.expected as expected_module
from alexnet_lib.expected import Expected, timed
from alexnet_lib.resident import train_resident


class Clock:
    """A stand-in for the time module: ``perf_counter`` reads ``now``, which the test moves."""

    def __init__(self):
        self.now = 1000.0

    def perf_counter(self):
        return self.now


@pytest.fixture
def clock(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(expected_module, "time", clock)
    return clock


def run_loop(clock, durations, **kwargs):
    expected = Expected("the loop", len(durations), torch.device("cpu"), **kwargs)
    for seconds in durations:
        clock.now += seconds
        expected.step()
    return expected


def test_a_long_loop_says_its_time_from_its_timed_steps_plus_the_warmup(clock, capsys):
    # warm-up step 5 s, then 2 s a step: 5 + 99 x 2 = 203 s, said once, after step 4
    expected = run_loop(clock, [5.0] + [2.0] * 99)
    assert expected.seconds == pytest.approx(203.0)
    out = capsys.readouterr().out
    assert out.count("expected:") == 1
    assert out.startswith("expected: about 3 min for the loop on CPU (") and out.endswith("(2 s a step, 100 steps)\n")


def test_a_loop_under_a_minute_says_nothing(clock, capsys):
    expected = run_loop(clock, [1.0] + [0.5] * 99)  # 1 + 99 x 0.5 = 50.5 s
    assert expected.seconds == pytest.approx(50.5)
    assert capsys.readouterr().out == ""


def test_hours_and_days_are_said_in_hours_and_days(clock, capsys):
    run_loop(clock, [0.0] + [36.0] * 400)  # 400 x 36 s = 4 h
    run_loop(clock, [0.0] + [3600.0] * 72)  # 72 h = 3 days
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(" for ")[0] for line in lines] == ["expected: about 4.0 h", "expected: about 3.0 days"]


def test_an_inner_loop_is_quiet_once_its_outer_loop_has_measured(clock, capsys):
    said = []
    for run in timed(range(3), "three runs", torch.device("cpu")):
        run_loop(clock, [0.0] + [10.0] * 9)  # 90 s each: the first says so, while the outer has no rate yet
        said.append(capsys.readouterr().out)
    # 0 s warm-up, then 10 s a step: 9 x 10 = 90 s
    assert said[0].startswith("expected: about 2 min for the loop on CPU (") and said[0].endswith(
        "(10 s a step, 10 steps)\n")
    assert said[1].startswith("expected: about 4 min for three runs on CPU (") and "(90 s a run, 3 runs)" in said[1]
    assert said[2] == ""
    assert expected_module._open == []


def test_train_resident_counts_every_step_of_every_epoch(monkeypatch, capsys):
    monkeypatch.setattr(expected_module, "NOTICE_AFTER_S", -1)  # say it however short
    x, y = torch.randn(70, 4), torch.arange(70) % 3
    train_resident(nn.Linear(4, 3), (x, y), epochs=2, lr=0.1, batch_size=32, progress=False)
    out = capsys.readouterr().out
    assert out.startswith("expected: about 0 min for training for 2 epochs on CPU (")
    assert out.endswith(" a step, 6 steps)\n")  # 2 epochs x ceil(70 / 32) batches
