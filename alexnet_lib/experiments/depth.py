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
)
