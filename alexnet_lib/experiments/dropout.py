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
from .plots import paired_differences
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


def figure(result: dict):
    """Left: every run's training error (eval mode, dotted) and held-out error (solid) after each
    epoch, a dot where it came within 0.5 points of its best. Middle: per seed, dropout minus none
    for the gap and the held-out error after the last epoch, with their mean, Student-t 95%
    interval and verdict. Right: per seed, the epochs to converge with dropout against without,
    beside the paper's "roughly doubles"."""
    import matplotlib.pyplot as plt

    config, m = result["config"], result["metrics"]
    runs = {(u["unit"]["dropout"], u["unit"]["seed"]): u for u in result["units"]}
    colour, name = {False: "C0", True: "C1"}, {False: "no dropout", True: "paper's dropout"}
    fig, (curves, diffs, epochs) = plt.subplots(1, 3, figsize=(13, 3.8), gridspec_kw={"width_ratios": [5, 3, 3]})
    for (d, seed), u in runs.items():
        first = seed == config["seeds"][0]
        x = range(1, len(u["test_error"]) + 1)
        curves.plot(x, [100 * e for e in u["test_error"]], "-", lw=0.8, color=colour[d],
                    label=f"{name[d]}: held-out" if first else None)
        curves.plot(x, [100 * e for e in u["train_error"]], ":", lw=0.8, color=colour[d],
                    label=f"{name[d]}: training (eval mode)" if first else None)
        best = epochs_to_best(u)
        curves.plot(best, 100 * u["test_error"][best - 1], "o", ms=4, color=colour[d])
    curves.set(xlabel="epoch", ylabel="top-1 error (%)", ylim=(0, None))
    curves.xaxis.get_major_locator().set_params(integer=True)
    curves.legend(fontsize=7)
    compared = {"gap_diff": ("gap: held-out -\ntraining error", lambda u: u["test_error"][-1] - u["train_error"][-1]),
                "test_error_diff": ("held-out error", lambda u: u["test_error"][-1])}
    paired_differences(diffs, [(what, [value(runs[True, s]) - value(runs[False, s]) for s in config["seeds"]], m[key])
                               for key, (what, value) in compared.items()], "dropout - none, last epoch (points)", "C1")
    pairs = [(epochs_to_best(runs[False, s]), epochs_to_best(runs[True, s])) for s in config["seeds"]]
    epochs.plot(*zip(*pairs), "o", color="C1", label="one seed")
    top = config["epochs"]
    epochs.plot([0, top], [0, top], color="grey", lw=0.8, label="as many")
    epochs.plot([0, top / 2], [0, top], color="grey", lw=0.8, ls="--", label="twice as many (the paper)")
    epochs.set(xlim=(0, top), ylim=(0, top), xlabel="epochs to converge, no dropout", ylabel="... with dropout")
    epochs.set_title(f"with dropout, {m['epochs_ratio']:.2f}x the epochs:\n{m['epochs_diff']['verdict']}", fontsize=8)
    epochs.legend(fontsize=7)
    fig.suptitle(f"AlexNet's classifier, {config['hidden']} units wide, on {config['dataset']}: {config['n_train']:,} "
                 f"training images, {config['epochs']} epochs, {len(config['seeds'])} seeds", fontsize=10)
    fig.tight_layout()
    return fig


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
    figure=figure,
)
