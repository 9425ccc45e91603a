"""Stored experiment results: the numbers they quote (by hand), their verification, their resumption."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import stats

from alexnet_lib.config import DRY_RUN_SIZES, REPO_ROOT
from alexnet_lib.errors import AlexNetError
from alexnet_lib.experiments import __main__ as cli
from alexnet_lib.experiments import claims, figure1, figure3, figure4, lrn, pooling, record, runner, table2
from alexnet_lib.experiments.registry import registry
from alexnet_lib.experiments.summary import difference, seed_stats, t_difference, t_interval

BOOK = REPO_ROOT / "book"
# A size of the LRN experiment that trains in about a second: 8 runs of 2 epochs over 256 images.
TINY = dict(dataset="fashion-mnist", n_train=256, n_test=128, epochs=2, batch=64,
            lr={"unit": 0.02, "raw": 0.002}, seeds=[0, 1])


def test_seed_stats_by_hand():
    s = seed_stats([0.1, 0.2, 0.3])
    assert s["mean"] == pytest.approx(0.2) and s["sd"] == pytest.approx(0.1)
    assert s["se"] == pytest.approx(0.1 / math.sqrt(3)) and (s["min"], s["max"], s["n"]) == (0.1, 0.3, 3)


# Hand-made seeds: n = 2 and n = 3 (what the stored results have), and unequal groups for Welch.
A3, B3 = [0.10, 0.25, 0.31], [0.52, 0.58, 0.71]
A2, B2 = [0.40, 0.43], [0.45, 0.52]


@pytest.mark.parametrize("a, b", [(A3, B3), (A2, B2), ([0.1, 0.3, 0.2, 0.25, 0.15], [0.2, 0.5, 0.25])])
def test_welch_difference_is_scipys(a, b):
    d = difference(a, b, paper_sign=-1, paired=False)
    reference = stats.ttest_ind(a, b, equal_var=False)
    assert d["df"] == pytest.approx(reference.df)
    assert d["interval"] == pytest.approx(list(reference.confidence_interval(0.95)))
    assert d["n"] == [len(a), len(b)] and d["kind"].startswith("Welch 95%")


@pytest.mark.parametrize("a, b", [(A3, B3), (A2, B2)])
def test_paired_difference_is_scipys(a, b):
    d = difference(a, b, paper_sign=-1, paired=True)
    reference = stats.ttest_rel(a, b)
    assert d["df"] == len(a) - 1 == reference.df
    assert d["interval"] == pytest.approx(list(reference.confidence_interval(0.95)))
    assert d["n"] == len(a) and d["kind"] == f"paired Student-t 95%, n = {len(a)} seeds"


def test_t_multipliers_at_two_and_three_seeds_are_not_two():
    """The half-width over the standard error: t(0.975, n - 1), 12.71 at n = 2 and 4.30 at n = 3
    (tables of Student's t), where mean +- 2 s.e. would claim 95% with far too narrow an interval."""
    for a, b, t in ((A2, B2, 12.706), (A3, B3, 4.303)):
        d = difference(a, b, paper_sign=-1, paired=True)
        assert (d["interval"][1] - d["diff"]) / d["se"] == pytest.approx(t, abs=1e-3)
    interval = t_interval(A3)["interval"]
    assert (interval[1] - np.mean(A3)) / (np.std(A3, ddof=1) / math.sqrt(3)) == pytest.approx(4.303, abs=1e-3)


def test_verdicts_follow_the_interval():
    # paired, n = 3: differences -0.42, -0.33, -0.40; mean -0.383, se 0.0285: t interval -0.506 to -0.261
    assert difference(A3, B3, paper_sign=-1, paired=True)["verdict"] == "reproduced"
    assert difference(A3, B3, paper_sign=1, paired=True)["verdict"] == "contradicted"
    # 2 standard errors would call this one (differences -0.05, -0.09: -0.07 +- 0.04) resolved;
    # at n = 2 the t interval (-0.07 +- 12.7 x 0.02) straddles zero
    d = difference(A2, B2, paper_sign=-1, paired=True)
    assert d["diff"] - 2 * d["se"] < d["diff"] + 2 * d["se"] < 0 and d["verdict"] == "not resolved at this size"
    assert difference([0.1], [0.9], -1, paired=True)["verdict"] == "not resolved at this size"  # no spread
    assert difference([0.1], [0.9], -1, paired=True)["interval"] is None
    with pytest.raises(ValueError, match="as many numbers"):
        difference(A3, B2, -1, paired=True)
    # over test images: a paired t with n - 1 degrees of freedom, from the mean and standard error
    over_images = t_difference(-0.003, 0.001, 9999, -1, "paired Student-t 95%, n = 10,000 test images", 10000)
    assert over_images["interval"] == pytest.approx([-0.003 - 1.9602 * 0.001, -0.003 + 1.9602 * 0.001], abs=1e-7)
    assert over_images["verdict"] == "reproduced"


def test_figure1_crossing_is_interpolated_between_records():
    config = dict(n_train=1280, batch=128)  # 10 batches per epoch
    outcome = {"steps": [[5, 0.5], [10, 0.3], [15, 0.1]]}
    assert figure1.epochs_to(config, outcome, 0.4) == pytest.approx(0.75)  # step 7.5
    assert figure1.epochs_to(config, outcome, 0.6) == pytest.approx(0.4)  # from (0, 1.0) to step 5: 4.0
    assert figure1.epochs_to(config, outcome, 0.05) is None


def test_pooling_held_out_error_at_a_training_error():
    outcome = {"train_error": [0.5, 0.3, 0.2], "test_error": [0.55, 0.4, 0.35]}
    assert pooling.test_error_at(outcome, 0.4) == pytest.approx(0.475)  # half-way through epoch 2
    assert pooling.test_error_at(outcome, 0.6) == 0.55  # reached in the first epoch
    assert pooling.test_error_at(outcome, 0.1) is None


@pytest.fixture
def results(tmp_path, monkeypatch):
    """An empty results/ folder and the LRN experiment's full size shrunk to TINY."""
    monkeypatch.setattr(record, "RESULTS", tmp_path)
    monkeypatch.setitem(lrn.SIZES, "full", TINY)
    return tmp_path


def _rewrite(path, edit, seal: bool):
    result = json.loads(path.read_text())
    edit(result)
    if seal:
        result["digest"] = record.digest(result)
    path.write_text(json.dumps(result))


def test_a_stored_result_verifies_and_every_kind_of_edit_fails(results, capsys):
    stored = runner.run("lrn", progress=False)
    path = results / "lrn.json"
    assert json.loads(path.read_text())["metrics"] == json.loads(json.dumps(stored["metrics"]))
    assert set(stored["provenance"]) >= {"command", "commit", "dirty", "library", "torch", "device", "cpu",
                                         "started", "wall_s"}
    assert stored["data"]["real"] and stored["data"]["train_images"] == 256
    problems, compared = runner.verify("lrn")
    assert problems == [] and compared["numbers"] == 3 and compared["largest"] == 0  # same machine: bit for bit
    assert cli.main(["verify", "lrn"]) == 0
    original = path.read_text()

    # a number changed by hand: the digest no longer matches
    _rewrite(path, lambda r: r["metrics"]["unit"]["with"].update(mean=0.01), seal=False)
    assert "does not match its digest" in runner.verify("lrn")[0][0]
    with pytest.raises(AlexNetError, match="does not match its digest"):
        record.load_result("lrn")
    # ... and sealed again: the metrics are not what the stored runs give
    path.write_text(original)
    _rewrite(path, lambda r: r["metrics"]["unit"]["with"].update(mean=0.01), seal=True)
    assert "metrics are not what summarise()" in runner.verify("lrn")[0][0]
    # a run's curve forged, metrics untouched: the re-run of its first epoch disagrees
    path.write_text(original)
    _rewrite(path, lambda r: r["units"][0]["train_error"].__setitem__(0, 0.01), seal=True)
    problems, _ = runner.verify("lrn")
    assert len(problems) == 1 and "train_error[0]" in problems[0] and "0.0100 stored" in problems[0]
    assert cli.main(["verify", "lrn"]) == 1
    assert "FAILED" in capsys.readouterr().out
    # the experiment's size changed since the run
    path.write_text(original)
    lrn.SIZES["full"] = {**TINY, "epochs": 3}
    assert "config is not the 'full' size" in runner.verify("lrn")[0][0]


def test_a_damaged_or_missing_file_fails_verify_in_one_line_that_says_what_to_do(results, capsys):
    """A truncated JSON, one byte changed in the arrays, the arrays missing: each one line naming the
    file and what to do, from verify and list alike."""
    stored = runner.run("lrn", progress=False)
    path = results / "lrn.json"
    text = path.read_text()
    path.write_text(text[: len(text) // 2])  # a partial copy
    problems, _ = runner.verify("lrn")
    assert len(problems) == 1 and "\n" not in problems[0]
    assert "lrn.json is not readable JSON" in problems[0] and "git checkout" in problems[0]
    assert cli.main(["list"]) == 0
    listed = capsys.readouterr().out
    assert "lrn.json is not readable JSON" in listed and "Traceback" not in listed
    assert cli.main(["verify", "lrn"]) == 1
    assert len([line for line in capsys.readouterr().out.splitlines() if line.strip()]) == 2  # the verdict and why
    # arrays: sealed by their SHA-256 in the JSON, which verify checks before anything else
    arrays = {"kernels": np.arange(12, dtype=np.float32)}
    result = {**{k: v for k, v in stored.items() if k != "digest"}, "arrays": {"file": "lrn.npz", "keys": ["kernels"]}}
    result["arrays"]["sha256"] = record.save_arrays(results / "lrn.npz", arrays)
    record.save_result(result)
    assert runner.verify("lrn")[0] == []
    data = bytearray((results / "lrn.npz").read_bytes())
    data[len(data) // 2] ^= 1  # one bit
    (results / "lrn.npz").write_bytes(bytes(data))
    problems, _ = runner.verify("lrn")
    assert len(problems) == 1 and "lrn.npz does not match the SHA-256" in problems[0]
    (results / "lrn.npz").unlink()
    problems, _ = runner.verify("lrn")
    assert len(problems) == 1 and "No stored arrays" in problems[0] and "git checkout" in problems[0]


def test_a_live_run_never_replaces_the_full_result_and_one_run_at_a_time(results, capsys, monkeypatch):
    runner.run("lrn", progress=False)
    before = (results / "lrn.json").read_bytes()
    with pytest.raises(AlexNetError, match="A live run of lrn is not stored"):
        runner.run("lrn", "live")
    monkeypatch.setitem(lrn.SIZES, "live", dict(TINY, seeds=[0]))
    assert cli.main(["run", "lrn", "--size", "live"]) == 0  # shown, not stored
    assert "verdict:" in capsys.readouterr().out
    assert (results / "lrn.json").read_bytes() == before and not list(results.glob(".lrn.partial*"))
    # a second run of the experiment while one holds its lock is refused in one line
    with runner._lock("lrn"):
        with pytest.raises(AlexNetError, match="Another run of experiment lrn is using"):
            runner.run("lrn", progress=False)
    assert (results / "lrn.json").read_bytes() == before


def test_resummarise_recomputes_only_the_metrics_and_says_so(results):
    runner.run("lrn", progress=False)
    path = results / "lrn.json"
    assert runner.resummarise("lrn") is False  # already today's
    _rewrite(path, lambda r: r["metrics"]["unit"]["with"].update(mean=0.01), seal=True)  # as an older summarise
    assert "summarise lrn" in runner.verify("lrn")[0][0]
    before = json.loads(path.read_text())
    assert runner.resummarise("lrn") is True
    after = json.loads(path.read_text())
    assert runner.verify("lrn")[0] == []
    assert after["units"] == before["units"] and after["config"] == before["config"]
    assert after["metrics"]["unit"]["with"]["mean"] != 0.01 and set(after["provenance"]["summarised"]) == {"library", "date"}
    # a hand edit is not laundered: the digest is checked first
    _rewrite(path, lambda r: r["units"][0]["train_error"].__setitem__(0, 0.01), seal=False)
    with pytest.raises(AlexNetError, match="does not match its digest"):
        runner.resummarise("lrn")


def test_an_interrupted_run_resumes_after_its_last_finished_unit(results, monkeypatch):
    whole = runner.run("lrn", progress=False, save=False)
    real_run_unit, calls = lrn.run_unit, []

    def interrupted(config, unit, data, epochs=None):
        if len(calls) == 3:
            raise KeyboardInterrupt
        calls.append(unit)
        return real_run_unit(config, unit, data, epochs)

    monkeypatch.setattr(lrn.EXPERIMENT, "run_unit", interrupted)
    with pytest.raises(KeyboardInterrupt):
        runner.run("lrn", progress=False)
    assert len(json.loads((results / ".lrn.partial.json").read_text())["done"]) == 3
    monkeypatch.setattr(lrn.EXPERIMENT, "run_unit", lambda *a, **k: calls.append(a[1]) or real_run_unit(*a, **k))
    resumed = runner.run("lrn", progress=False)
    assert len(calls) == 3 + 5  # the three finished units were not run again
    assert resumed["metrics"] == whole["metrics"]  # and the result is the uninterrupted run's
    assert not (results / ".lrn.partial.json").exists()


def test_missing_results_and_unknown_names_say_what_to_do(results, capsys):
    assert "python -m alexnet_lib.experiments run lrn --size full" in runner.verify("lrn")[0][0]
    assert cli.main(["run", "nosuch"]) == 2
    assert "choose from figure1" in capsys.readouterr().err
    with pytest.raises(AlexNetError, match="not the stored result"):
        runner.run("lrn", dataset="cifar10")
    cli.main(["list"])
    assert "lrn" in capsys.readouterr().out


def test_the_committed_claims_page_is_what_the_stored_results_give():
    assert claims.PAGE.read_text() == claims.page(), (
        "book/claims.md is out of date: run `python -m alexnet_lib.experiments claims`")
    for name, e in registry().items():  # every experiment has its stored full result, and the page a row for it
        assert record.load_result(name)["size"] == "full"
        assert f"]({e.chapter}.ipynb)" in claims.PAGE.read_text()


def test_the_registry_holds_every_experiment_in_the_papers_order_and_the_dry_run_knows_their_sizes(monkeypatch):
    experiments = registry()
    modules = {p.stem for p in Path(runner.__file__).parent.glob("*.py")} - {
        "__init__", "__main__", "claims", "datasets", "plots", "record", "registry", "runner", "show", "summary"}
    assert set(experiments) == modules  # every experiment module is registered, nothing else
    sections = [tuple(int(n) for n in e.section.lstrip("§").split("-")[0].split(".")) for e in experiments.values()]
    assert sections == sorted(sections)
    assert list(experiments)[:3] == ["figure1", "lrn", "pooling"]  # §3.1, §3.3, §3.4
    monkeypatch.setenv("ALEXNET_DRY_RUN", "1")
    for e in experiments.values():
        assert (BOOK / f"{e.chapter}.ipynb").exists()
        for size in e.sizes:
            shrunk = e.size(size)  # an unknown key would be an error
            assert set(shrunk) == set(e.sizes[size])
            assert all(shrunk[k] <= v for k, v in e.sizes[size].items() if isinstance(v, int) and k in DRY_RUN_SIZES)


def test_arrays_are_stored_beside_the_json_and_read_back_by_the_experiment_that_needs_them(tmp_path, monkeypatch):
    """table2 keeps its trained weights in results/table2.npz; figure4 rebuilds the net from them."""
    monkeypatch.setattr(record, "RESULTS", tmp_path)
    monkeypatch.setitem(table2.SIZES, "full", dict(table2.SIZES["live"], n_train=256, n_test=128, epochs=1))
    monkeypatch.setitem(figure4.SIZES, "full", dict(figure4.SIZES["full"], shown=4, queries=2))
    stored = runner.run("table2", progress=False)
    weights = record.result_arrays("table2")
    assert stored["arrays"]["keys"] == sorted(weights) and weights["features.conv1.weight"].shape == (24, 1, 5, 5)
    # the weights are the net's: its centre-view test error is the stored one
    trained = figure4.load(figure4.SIZES["full"], "cpu")
    again = table2.views(trained.net, trained.data.test)["one_view"]
    assert again == pytest.approx(stored["units"][0]["final"]["one_view"], abs=1e-6)
    four = runner.run("figure4", progress=False)
    outcome = four["units"][0]
    assert [len(s) for s in outcome["top5_scores"]] == [5] * 4
    assert all(a >= b for s in outcome["top5_scores"] for a, b in zip(s, s[1:]))  # most probable first
    # a pixel-space neighbour of a test image is the training image nearest to it, by hand
    (x_train, y_train), (x_test, _) = trained.data.train, trained.data.test
    q = outcome["queries"][0]
    d = (x_train[:, :, 2:30, 2:30] - x_test[q, :, 2:30, 2:30]).flatten(1).norm(dim=1)
    assert outcome["neighbours"]["pixels"][0][0] == int(d.argmin())
    assert outcome["neighbour_labels"]["pixels"][0][0] == int(y_train[int(d.argmin())])
    assert runner.verify("table2")[0] == [] and runner.verify("figure4")[0] == []
    # an edited array file no longer matches the SHA-256 its JSON keeps
    (tmp_path / "table2.npz").write_bytes(b"not the weights")
    with pytest.raises(AlexNetError, match="does not match the SHA-256"):
        record.result_arrays("table2")


def test_figure3_verdicts_need_every_seed():
    def outcome(oriented, p):
        return {"smoothness": [[0.9, 0.9]], "orientedness": [oriented], "colourfulness": [[0.3, 0.7]],
                "train_error": [0.5], "moved": [1.0], "split": {"colourfulness": {"diff": 0.4, "p": p}}}
    ica = {"smoothness": [[0.8, 0.8]], "orientedness": [[0.5, 0.5]], "colourfulness": [[0.2, 0.2]]}
    both = figure3.summarise({}, [({"seed": 0}, outcome([0.5, 0.4], 0.001)), ({"seed": 1}, outcome([0.6, 0.35], 0.01)),
                                  ({"reference": "ica"}, ica)])
    assert both["oriented_verdict"] == both["split_verdict"] == "reproduced"
    one = figure3.summarise({}, [({"seed": 0}, outcome([0.5, 0.2], 0.001)), ({"seed": 1}, outcome([0.6, 0.35], 0.2)),
                                 ({"reference": "ica"}, ica)])
    assert one["oriented_verdict"] == one["split_verdict"] == "not resolved at this size"


def test_figure3_batches_are_views_of_their_exemplars():
    """A view of exemplar c, lighting off: its pixels lie within exemplar c's range, not another's."""
    exemplars = torch.stack([torch.full((3, 80, 80), 10.0), torch.full((3, 80, 80), 200.0)])
    exemplars[1, :, :, 40:] = 100.0  # exemplar 1: two halves
    lighting = (torch.zeros(3), torch.eye(3), torch.zeros(3), torch.ones(3))
    images, labels = figure3.exemplar_batch(exemplars, lighting, 16, torch.Generator().manual_seed(0))
    assert images.shape == (16, 3, 64, 64) and images.is_contiguous(memory_format=torch.channels_last)
    for image, label in zip(images, labels):
        low, high = (10.0, 10.0) if label == 0 else (100.0, 200.0)
        assert low - 1e-3 <= image.min() and image.max() <= high + 1e-3
