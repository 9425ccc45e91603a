"""Paper §3.4: does overlapping pooling (z = 3, s = 2) overfit less than the plain kind (z = s = 2)?

The paper: overlapping pools lower AlexNet's top-1 error by 0.4% (top-5 by 0.3%) against pools
with z = s = 2 of the same output size, and nets with them are "slightly more difficult to
overfit". Here: `CifarNet` with z = 3 or z = 2 (stride 2 both; Fashion-MNIST padded to 32x32, so
that both give the same map sizes and parameter count), over seeds. After every epoch: the error
on the training images (eval mode) and on held-out test images. Overfitting is compared two ways:
the gap (held-out minus training error) after the last epoch, and the held-out error each setting
has when its training error has fallen to the same level (linear between epochs).
"""

from __future__ import annotations

import numpy as np
import torch

from ..models import CifarNet
from .datasets import load_small, train_with_both_errors
from .plots import paired_differences
from .registry import Experiment, Row
from .summary import difference, pct, points, seed_stats

SIZES = {
    "live": dict(dataset="fashion-mnist", n_train=1000, n_test=1000, side=32, epochs=3, batch=50,
                 lr=0.05, seeds=[0, 1]),
    "full": dict(dataset="fashion-mnist", n_train=10000, n_test=10000, side=32, epochs=10, batch=50,
                 lr=0.05, seeds=[0, 1, 2, 3, 4]),
}


def load(config: dict, device):
    return load_small(config, device)


def units(config: dict, done: list) -> list[dict]:
    return [dict(z=z, seed=seed) for seed in config["seeds"] for z in (3, 2)]


def run_unit(config: dict, unit: dict, data, epochs: int | None = None) -> dict:
    x, _ = data.train
    torch.manual_seed(unit["seed"])
    net = CifarNet(num_classes=data.info["classes"], in_channels=x.shape[1], image_size=x.shape[-1],
                   pool_size=unit["z"])
    return train_with_both_errors(net, config, unit["seed"], data, epochs)


def test_error_at(outcome: dict, level: float) -> float | None:
    """The held-out error when the training error first fell to ``level`` (linear between epochs)."""
    train, test = outcome["train_error"], outcome["test_error"]
    if train[0] <= level:
        return test[0]
    for e in range(1, len(train)):
        if train[e] <= level:
            w = (train[e - 1] - level) / (train[e - 1] - train[e])
            return test[e - 1] + w * (test[e] - test[e - 1])
    return None


def summarise(config: dict, done: list) -> dict:
    runs = {z: [o for u, o in done if u["z"] == z] for z in (3, 2)}
    final = {z: {k: [o[k][-1] for o in runs[z]] for k in ("train_error", "test_error")} for z in (3, 2)}
    gap = {z: list(np.subtract(final[z]["test_error"], final[z]["train_error"])) for z in (3, 2)}
    # the lowest training error that every run reached: where all of them can be compared
    level = max(min(o["train_error"]) for o in (*runs[3], *runs[2]))
    at_level = {z: [test_error_at(o, level) for o in runs[z]] for z in (3, 2)}
    out = {"level": level}
    for z, key in ((3, "overlapping"), (2, "plain")):
        out[key] = {"train_error": seed_stats(final[z]["train_error"]),
                    "test_error": seed_stats(final[z]["test_error"]), "gap": seed_stats(gap[z]),
                    "test_error_at_level": seed_stats([e for e in at_level[z] if e is not None])}
    out["test_error_diff"] = difference(final[3]["test_error"], final[2]["test_error"], paper_sign=-1, paired=True)
    out["gap_diff"] = difference(gap[3], gap[2], paper_sign=-1, paired=True)
    pairs = [(a, b) for a, b in zip(at_level[3], at_level[2]) if a is not None and b is not None]  # same seed
    out["at_level_diff"] = difference([a for a, _ in pairs], [b for _, b in pairs], paper_sign=-1, paired=True)
    return out


def figure(result: dict):
    """Left: every run's held-out against training error after each epoch (training error falls to
    the right), with the training error at which the runs are compared. Right: per seed, overlapping
    minus plain for the three comparisons of `summarise`, with their mean, Student-t 95% interval
    and verdict."""
    import matplotlib.pyplot as plt

    config, m = result["config"], result["metrics"]
    runs = {(u["unit"]["z"], u["unit"]["seed"]): u for u in result["units"]}
    fig, (curves, diffs) = plt.subplots(1, 2, figsize=(11, 3.8), gridspec_kw={"width_ratios": [5, 4]})
    for (z, seed), u in runs.items():
        label = f"z={z}, s=2 ({'overlapping' if z == 3 else 'plain'})" if seed == config["seeds"][0] else None
        curves.plot([100 * e for e in u["train_error"]], [100 * e for e in u["test_error"]], "-o" if z == 3 else "--s",
                    ms=2.5, lw=0.8, color="C0" if z == 3 else "C3", label=label)
    curves.axvline(100 * m["level"], color="grey", lw=0.8, ls=":", label=f"equal training error, {pct(m['level'])}")
    curves.invert_xaxis()
    curves.set(xlabel="training error (%, eval mode), falling as training goes", ylabel="held-out error (%)")
    curves.legend(fontsize=8)
    compared = {"test_error_diff": ("held-out error,\nlast epoch", lambda u: u["test_error"][-1]),
                "gap_diff": ("gap: held-out -\ntraining error", lambda u: u["test_error"][-1] - u["train_error"][-1]),
                "at_level_diff": (f"held-out error at\n{pct(m['level'])} training",
                                  lambda u: test_error_at(u, m["level"]))}
    seeds = {key: [a - b for a, b in ((value(runs[3, s]), value(runs[2, s])) for s in config["seeds"])
                   if a is not None and b is not None] for key, (_, value) in compared.items()}
    paired_differences(diffs, [(what, seeds[key], m[key]) for key, (what, _) in compared.items()],
                       "overlapping - plain (points)")
    fig.suptitle(f"CifarNet with overlapping (z=3) or plain (z=2) pools on {config['dataset']}: {config['n_train']:,} "
                 f"training images, {config['epochs']} epochs, {len(config['seeds'])} seeds", fontsize=10)
    fig.tight_layout()
    return fig


def rows(m: dict) -> list[Row]:
    """Its lines of the claims page."""
    return [("overlapping pools lower the error", "-0.4% top-1 (ImageNet)",
             f"{pct(m['overlapping']['test_error']['mean'])} vs {pct(m['plain']['test_error']['mean'])}: "
             f"{points(m['test_error_diff'])}", m["test_error_diff"]["verdict"]),
            ("overlapping pools are slightly harder to overfit (compared at equal training error)", "no number",
             f"held-out error at {pct(m['level'])} training error: {points(m['at_level_diff'])}",
             m["at_level_diff"]["verdict"])]


EXPERIMENT = Experiment(
    name="pooling",
    section="§3.4",
    chapter="06_overlapping_pooling",
    claim="overlapping pools (z=3, s=2) lower top-1 error by 0.4% and overfit slightly less than z=s=2",
    sizes=SIZES,
    tolerance=0.04,  # first-epoch error rates: 0.026 apart between an AMD EPYC (AVX-512, stored) and an Intel Xeon (AVX-512 and AVX2)
    load=load,
    units=units,
    run_unit=run_unit,
    summarise=summarise,
    rows=rows,
    figure=figure,
)
