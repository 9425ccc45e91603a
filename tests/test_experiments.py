"""Stored experiment results: the numbers they quote (by hand), their verification, their resumption."""

from __future__ import annotations

import json
import math

import pytest
import torch

from alexnet_lib.errors import AlexNetError
from alexnet_lib.experiments import __main__ as cli
from alexnet_lib.experiments import claims, figure1, figure3, figure4, lrn, pooling, record, runner, table2
from alexnet_lib.experiments.summary import difference, seed_stats

# A size of the LRN experiment that trains in about a second: 8 runs of 2 epochs over 256 images.
TINY = dict(dataset="fashion-mnist", n_train=256, n_test=128, epochs=2, batch=64,
            lr={"unit": 0.02, "raw": 0.002}, seeds=[0, 1])


def test_seed_stats_and_difference_by_hand():
    s = seed_stats([0.1, 0.2, 0.3])
    assert s["mean"] == pytest.approx(0.2) and s["sd"] == pytest.approx(0.1)
    assert s["se"] == pytest.approx(0.1 / math.sqrt(3)) and (s["min"], s["max"], s["n"]) == (0.1, 0.3, 3)
    d = difference([0.1, 0.2, 0.3], [0.5, 0.6, 0.7], paper_sign=-1)
    se = math.hypot(0.1 / math.sqrt(3), 0.1 / math.sqrt(3))  # 0.0816
    assert d["diff"] == pytest.approx(-0.4) and d["se"] == pytest.approx(se)
    assert d["interval"] == pytest.approx([-0.4 - 2 * se, -0.4 + 2 * se])
    assert d["verdict"] == "reproduced"
    assert difference([0.1, 0.2, 0.3], [0.5, 0.6, 0.7], paper_sign=1)["verdict"] == "contradicted"
    assert difference([0.1, 0.2, 0.3], [0.15, 0.25, 0.35], -1)["verdict"] == "not resolved at this size"
    assert difference([0.1], [0.9], -1)["verdict"] == "not resolved at this size"  # one seed: no spread


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
    assert "config is not SIZES['full']" in runner.verify("lrn")[0][0]


def test_an_interrupted_run_resumes_after_its_last_finished_unit(results, monkeypatch):
    whole = runner.run("lrn", progress=False, save=False)
    real_run_unit, calls = lrn.run_unit, []

    def interrupted(config, unit, data, epochs=None):
        if len(calls) == 3:
            raise KeyboardInterrupt
        calls.append(unit)
        return real_run_unit(config, unit, data, epochs)

    monkeypatch.setattr(lrn, "run_unit", interrupted)
    with pytest.raises(KeyboardInterrupt):
        runner.run("lrn", progress=False)
    assert len(json.loads((results / ".lrn.partial.json").read_text())["done"]) == 3
    monkeypatch.setattr(lrn, "run_unit", lambda *a, **k: calls.append(a[1]) or real_run_unit(*a, **k))
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
    for name in runner.NAMES:  # every experiment has its stored full result, and the page a row for it
        assert record.load_result(name)["size"] == "full"
        assert f"]({claims.CHAPTER[name]}.ipynb)" in claims.PAGE.read_text()


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
