"""Paper §7: "removing any of the middle layers results in a loss of about 2% for the top-1 performance".

Here: `SmallAlexNet` (AlexNet's layer pattern, towers, LRN, overlapping pools and dropout at
Fashion-MNIST's size) with all five conv layers or without conv4, over seeds; SGD at ``lr`` for
``epochs[0]`` epochs, then at lr / 10 for ``epochs[1]`` (the paper's divide-by-ten, once). After
every epoch: the training error during the epoch and the held-out test error.
"""

from __future__ import annotations

import torch

from ..models import SmallAlexNet
from ..resident import train_resident
from .datasets import load_small
from .registry import Experiment, Row
from .summary import difference, pct, points, seed_stats

SIZES = {
    "live": dict(dataset="fashion-mnist", n_train=1400, n_test=2000, epochs=[3, 1], batch=64, lr=0.05,
                 seeds=[0, 1], removed="conv4"),
    "full": dict(dataset="fashion-mnist", n_train=8000, n_test=5000, epochs=[4, 1], batch=64, lr=0.05,
                 seeds=[0, 1, 2, 3, 4], removed="conv4"),
}


def load(config: dict, device):
    return load_small(config, device)


def units(config: dict, done: list) -> list[dict]:
    return [dict(removed=r, seed=seed) for seed in config["seeds"] for r in (None, config["removed"])]


def run_unit(config: dict, unit: dict, data, epochs: int | None = None) -> dict:
    x, _ = data.train
    torch.manual_seed(unit["seed"])
    net = SmallAlexNet(data.info["classes"], x.shape[1], x.shape[-1], remove_conv=unit["removed"])
    fast, slow = config["epochs"] if epochs is None else (epochs, 0)
    curves = {"train_error": [], "test_error": []}
    for n, lr, seed in ((fast, config["lr"], unit["seed"]), (slow, config["lr"] / 10, unit["seed"] + 1000)):
        if n:
            history = train_resident(net, data.train, epochs=n, lr=lr, batch_size=config["batch"], seed=seed,
                                     val=data.test, progress=False)
            curves["train_error"] += history.train_error
            curves["test_error"] += history.val_error
    return curves


def summarise(config: dict, done: list) -> dict:
    final = {r: [o["test_error"][-1] for u, o in done if u["removed"] == r] for r in (None, config["removed"])}
    train = {r: [o["train_error"][-1] for u, o in done if u["removed"] == r] for r in (None, config["removed"])}
    return {"all_five": {"test_error": seed_stats(final[None]), "train_error": seed_stats(train[None])},
            "removed": {"layer": config["removed"], "test_error": seed_stats(final[config["removed"]]),
                        "train_error": seed_stats(train[config["removed"]])},
            "removed_minus_all": difference(final[config["removed"]], final[None], paper_sign=1, paired=True)}


def figure(result: dict):
    """Left: every run's held-out error after each epoch, the whole net solid and the net without
    the removed layer dashed, one colour per seed. Right: per seed, the final test error without the
    layer minus with it, their mean with its paired Student-t 95% interval, and the paper's +2."""
    import matplotlib.pyplot as plt

    config, m = result["config"], result["metrics"]
    removed, d = config["removed"], m["removed_minus_all"]
    final = {(u["unit"]["removed"], u["unit"]["seed"]): u["test_error"][-1] for u in result["units"]}
    fig, (curves, diffs) = plt.subplots(1, 2, figsize=(10, 3.6), gridspec_kw={"width_ratios": [3, 2]})
    for unit in result["units"]:
        seed, gone = unit["unit"]["seed"], unit["unit"]["removed"]
        epochs = range(1, len(unit["test_error"]) + 1)
        curves.plot(epochs, [100 * e for e in unit["test_error"]], "--" if gone else "-", marker="o", ms=3,
                    color=f"C{config['seeds'].index(seed)}", label=None if gone else f"seed {seed}")
    curves.axvline(config["epochs"][0] + 0.5, color="grey", lw=0.8, ls=":")
    curves.set(xlabel=f"epoch (lr {config['lr']:g}, then {config['lr'] / 10:g} after the dotted line)",
               ylabel="held-out top-1 error (%)",
               title=f"all five conv layers (solid) and without {removed} (dashed)")
    curves.set_xticks(range(1, sum(config["epochs"]) + 1))
    curves.title.set_fontsize(9)
    curves.legend(fontsize=7)
    per_seed = [100 * (final[removed, s] - final[None, s]) for s in config["seeds"]]
    diffs.scatter(range(len(per_seed)), per_seed, color=[f"C{i}" for i in range(len(per_seed))], zorder=3)
    x = len(per_seed) + 0.5
    if d["interval"] is not None:
        low, high = (100 * b for b in d["interval"])
        diffs.errorbar(x, 100 * d["diff"], yerr=[[100 * d["diff"] - low], [high - 100 * d["diff"]]], fmt="o",
                       color="black", capsize=4)
    else:
        diffs.plot(x, 100 * d["diff"], "o", color="black")
    diffs.axhline(0, color="grey", lw=0.8)
    diffs.axhline(2, color="black", lw=0.8, ls="--", label="the paper: about +2 (ImageNet)")
    diffs.set_xticks([*range(len(per_seed)), x], [*(f"seed {s}" for s in config["seeds"]), "mean"], fontsize=7)
    diffs.set(ylabel=f"without {removed} minus all five (points)", title=f"{d['kind']}: {d['verdict']}")
    diffs.title.set_fontsize(9)
    diffs.legend(fontsize=7)
    fig.suptitle(f"§7 on {result['data']['train_images']:,} {result['data']['name'].split(' (')[0]} training images: "
                 f"SmallAlexNet with and without {removed}", fontsize=10)
    fig.tight_layout()
    return fig


def rows(m: dict) -> list[Row]:
    """Its lines of the claims page."""
    return [(f"removing a middle conv layer ({m['removed']['layer']}) costs top-1", "about +2% top-1",
             f"{pct(m['removed']['test_error']['mean'])} vs {pct(m['all_five']['test_error']['mean'])}: "
             f"{points(m['removed_minus_all'])}", m["removed_minus_all"]["verdict"])]


EXPERIMENT = Experiment(
    name="depth",
    section="§7",
    chapter="13_discussion",
    claim="removing any middle conv layer costs about 2% top-1",
    sizes=SIZES,
    tolerance=0.02,  # first-epoch error rates across CPUs
    load=load,
    units=units,
    run_unit=run_unit,
    summarise=summarise,
    rows=rows,
    figure=figure,
)
