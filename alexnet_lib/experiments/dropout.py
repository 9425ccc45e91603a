"""Paper §4.2: dropout in the fully-connected layers against overfitting.

The paper: without dropout AlexNet "exhibits substantial overfitting"; dropout "roughly doubles
the number of iterations required to converge". Here: AlexNet's classifier alone (fc6 -> ReLU ->
dropout -> fc7 -> ReLU -> dropout -> fc8, 256 units wide) on flattened images, with the paper's
dropout (`PaperDropout`: zero half the units in training, halve every output at test time) or
none, over seeds. After every epoch: the error on the training images (eval mode: the whole net)
and on held-out test images.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from ..dropout import PaperDropout
from .datasets import load_small, train_with_both_errors
from .registry import Experiment, Row
from .summary import difference, pct, points, seed_stats

SIZES = {
    "live": dict(dataset="fashion-mnist", n_train=2000, n_test=2000, epochs=20, batch=50, lr=0.02,
                 seeds=[0, 1], hidden=256),
    "full": dict(dataset="fashion-mnist", n_train=10000, n_test=10000, epochs=40, batch=50, lr=0.02,
                 seeds=[0, 1, 2, 3, 4], hidden=256),
}


def small_classifier(in_features: int, num_classes: int, drop: Callable[[], nn.Module],
                     hidden: int = 256) -> nn.Sequential:
    """fc6 -> ReLU -> drop -> fc7 -> ReLU -> drop -> fc8: AlexNet's classifier, ``hidden`` units wide.

    ``drop()`` makes each dropout layer: ``lambda: PaperDropout(0.5)`` (the paper's), ``nn.Identity``
    (none), or any other kind to compare (the §4.2 chapter's exercises).
    """
    return nn.Sequential(OrderedDict([
        ("flatten", nn.Flatten()),
        ("fc6", nn.Linear(in_features, hidden)), ("relu6", nn.ReLU()), ("drop6", drop()),
        ("fc7", nn.Linear(hidden, hidden)), ("relu7", nn.ReLU()), ("drop7", drop()),
        ("fc8", nn.Linear(hidden, num_classes)),
    ]))


def load(config: dict, device):
    return load_small(config, device)


def units(config: dict, done: list) -> list[dict]:
    return [dict(dropout=d, seed=seed) for seed in config["seeds"] for d in (False, True)]


def run_unit(config: dict, unit: dict, data, epochs: int | None = None) -> dict:
    x, _ = data.train
    torch.manual_seed(unit["seed"])
    drop = (lambda: PaperDropout(0.5)) if unit["dropout"] else nn.Identity
    net = small_classifier(x[0].numel(), data.info["classes"], drop, config["hidden"])
    return train_with_both_errors(net, config, unit["seed"], data, epochs)


def epochs_to_best(outcome: dict, within: float = 0.005) -> int:
    """The first epoch whose held-out error is within ``within`` of the run's best: convergence."""
    best = min(outcome["test_error"])
    return next(e + 1 for e, error in enumerate(outcome["test_error"]) if error <= best + within)


def summarise(config: dict, done: list) -> dict:
    out = {}
    final, gap, best, converge = {}, {}, {}, {}
    for d, key in ((False, "none"), (True, "paper")):
        runs = [o for u, o in done if u["dropout"] == d]
        final[d] = [o["test_error"][-1] for o in runs]
        gap[d] = list(np.subtract(final[d], [o["train_error"][-1] for o in runs]))
        best[d] = [min(o["test_error"]) for o in runs]
        converge[d] = [epochs_to_best(o) for o in runs]
        out[key] = {"test_error": seed_stats(final[d]), "gap": seed_stats(gap[d]),
                    "train_error": seed_stats([o["train_error"][-1] for o in runs]),
                    "best_test_error": seed_stats(best[d]), "epochs_to_best": seed_stats(converge[d])}
    out["gap_diff"] = difference(gap[True], gap[False], paper_sign=-1, paired=True)
    out["test_error_diff"] = difference(final[True], final[False], paper_sign=-1, paired=True)
    out["epochs_ratio"] = out["paper"]["epochs_to_best"]["mean"] / out["none"]["epochs_to_best"]["mean"]
    out["epochs_diff"] = difference(converge[True], converge[False], paper_sign=1, paired=True)
    return out


def rows(m: dict) -> list[Row]:
    """Its lines of the claims page."""
    ratio = m["epochs_ratio"]
    return [("without dropout the net overfits substantially", "no number",
             f"held-out minus training error {pct(m['none']['gap']['mean'])} without, "
             f"{pct(m['paper']['gap']['mean'])} with: {points(m['gap_diff'])}", m["gap_diff"]["verdict"]),
            ("dropout roughly doubles the iterations to converge", "about 2x",
             f"{ratio:.2f}x the epochs to within 0.5 points of its best held-out error: "
             f"{points(m['epochs_diff'], 'epochs', scale=1)}", m["epochs_diff"]["verdict"])]


EXPERIMENT = Experiment(
    name="dropout",
    section="§4.2",
    chapter="09_dropout",
    claim="without dropout the net overfits substantially; dropout roughly doubles the iterations to converge",
    sizes=SIZES,
    tolerance=0.02,  # first-epoch error rates across CPUs
    load=load,
    units=units,
    run_unit=run_unit,
    summarise=summarise,
    rows=rows,
)
