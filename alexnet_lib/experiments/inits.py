"""Paper §5: which initialisations let an AlexNet-pattern net leave the loss of a uniform guess, and
does weight decay lower the *training* error?

The paper: weights N(0, 0.01), biases 1 in conv2, conv4, conv5 and the hidden fully-connected
layers ("accelerates the early stages of learning by providing the ReLUs with positive inputs"),
0 elsewhere; and weight decay 0.0005 "is not merely a regularizer: it reduces the model's training
error". Here: `SmallAlexNet` (AlexNet's layer pattern at Fashion-MNIST's size) started four ways,
trained by SGD with the paper's momentum 0.9 and decay 0.0005, over seeds: the paper's init, the
2012 code's (conv3-5 from N(0, 0.03)) and Caffe's replica (biases 0.1), all on the 2012 code's raw
pixel scale; PyTorch's default and He's (`SmallAlexNet`'s own) on unit-variance inputs, He's also
without weight decay. The training
error is recorded every ``record_every`` batches: a net has left the plateau when it falls below
``left_at`` (chance is 90% for ten classes).
"""

from __future__ import annotations

import math

import torch

from ..models import INITIALISATIONS, SmallAlexNet
from ..resident import train_resident
from .datasets import load_small
from .registry import Experiment, Row
from .summary import difference, pct, points, seed_stats

INITS = {name: INITIALISATIONS[name] for name in ("paper", "2012-code", "caffe", "pytorch", "he")}  # stored order
SCALE = {"paper": "raw", "2012-code": "raw", "caffe": "raw", "pytorch": "unit", "he": "unit"}
SIZES = {
    "live": dict(dataset="fashion-mnist", n_train=1280, n_test=1000, epochs=2, batch=128, lr=0.01,
                 weight_decay=0.0005, seeds=[0], record_every=2, left_at=0.8),
    "full": dict(dataset="fashion-mnist", n_train=20000, n_test=5000, epochs=6, batch=128, lr=0.01,
                 weight_decay=0.0005, seeds=[0, 1], record_every=10, left_at=0.8),
}


def load(config: dict, device):
    return load_small(config, device)


def units(config: dict, done: list) -> list[dict]:
    runs = [dict(init=i, decay=True, seed=s) for s in config["seeds"] for i in INITS]
    return runs + [dict(init="he", decay=False, seed=s) for s in config["seeds"]]


def run_unit(config: dict, unit: dict, data, epochs: int | None = None) -> dict:
    data = data.raw() if SCALE[unit["init"]] == "raw" else data
    x, _ = data.train
    torch.manual_seed(unit["seed"])
    net = INITS[unit["init"]](SmallAlexNet(data.info["classes"], x.shape[1], x.shape[-1]))
    history = train_resident(net, data.train, epochs=epochs or config["epochs"], lr=config["lr"],
                             batch_size=config["batch"], seed=unit["seed"], val=data.test, progress=False,
                             weight_decay=config["weight_decay"] if unit["decay"] else 0.0,
                             record_every=config["record_every"])
    return {"train_error": history.train_error, "train_loss": history.train_loss,
            "test_error": history.val_error, "steps": [list(s) for s in history.steps]}


def left_plateau(config: dict, outcome: dict) -> int | None:
    """The first recorded step whose training error is below ``left_at``; None if none is."""
    return next((step for step, error in outcome["steps"] if error < config["left_at"]), None)


def summarise(config: dict, done: list) -> dict:
    out = {"ln_classes": math.log(10), "steps_per_epoch": math.ceil(config["n_train"] / config["batch"])}
    for name in INITS:
        runs = [o for u, o in done if u["init"] == name and u["decay"]]
        left = [left_plateau(config, o) for o in runs]
        out[name] = {"left_at_step": left, "final_train_error": seed_stats([o["train_error"][-1] for o in runs]),
                     "final_test_error": seed_stats([o["test_error"][-1] for o in runs]),
                     "final_train_loss": seed_stats([o["train_loss"][-1] for o in runs])}
    decay = {d: [o["train_error"][-1] for u, o in done if u["init"] == "he" and u["decay"] == d]
             for d in (True, False)}
    out["no_decay"] = {"final_train_error": seed_stats(decay[False])}
    out["decay_minus_none"] = difference(decay[True], decay[False], paper_sign=-1, paired=True)
    return out


def rows(m: dict) -> list[Row]:
    """Its lines of the claims page."""
    left = {name: m[name]["left_at_step"] for name in ("paper", "2012-code", "caffe", "pytorch", "he")}
    said = "; ".join(f"{n}: " + (", ".join("never" if s is None else f"step {s}" for s in steps))
                     for n, steps in left.items())
    paper_leaves = all(s is not None for s in left["paper"])
    return [("the paper's init (N(0, 0.01), biases 1) leaves the uniform guess's loss", "it trained AlexNet",
             f"first below 80% training error (per seed): {said}",
             "reproduced" if paper_leaves else "not resolved at this size"),
            ("weight decay lowers the training error", "no number",
             f"{pct(m['he']['final_train_error']['mean'])} with vs {pct(m['no_decay']['final_train_error']['mean'])} "
             f"without: {points(m['decay_minus_none'])}", m["decay_minus_none"]["verdict"])]


NAMES = {"paper": "§5 as printed", "2012-code": "2012 code", "caffe": "Caffe replica", "pytorch": "PyTorch default",
         "he": "He"}


def figure(result: dict):
    """The training error over each ``record_every`` batches against steps: one line per init and
    seed (weight decay on), He's without weight decay dashed; chance (90%) and the ``left_at`` line."""
    import matplotlib.pyplot as plt

    config, m = result["config"], result["metrics"]
    fig, ax = plt.subplots(figsize=(8.5, 3.8))
    for unit in result["units"]:
        init, decay, seed = unit["unit"]["init"], unit["unit"]["decay"], unit["unit"]["seed"]
        steps, errors = zip(*unit["steps"])
        label = (NAMES[init] + ("" if decay else ", no weight decay")) if seed == config["seeds"][0] else None
        ax.plot(steps, [100 * e for e in errors], color=f"C{list(INITS).index(init)}", lw=0.9,
                ls="-" if decay else "--", label=label)
    ax.axhline(90, color="grey", lw=0.8, ls=":", label="chance (90%, ten classes)")
    ax.axhline(100 * config["left_at"], color="black", lw=0.6, label=f"left the plateau ({config['left_at']:.0%})")
    ax.set(xlabel=f"step (batches of {config['batch']})", ylim=(0, 100),
           ylabel=f"training error (%), last {config['record_every']} batches")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.legend(fontsize=7, ncol=2)
    left = sum(s is not None for s in m["paper"]["left_at_step"])
    seeds = len(config["seeds"])
    ax.set_title(f"§5: SmallAlexNet from five inits, {config['n_train']:,} {config['dataset']} images, "
                 f"{seeds} seed{'s' if seeds > 1 else ''} each; the paper's init left the plateau in {left} of {seeds}",
                 fontsize=9)
    fig.tight_layout()
    return fig


EXPERIMENT = Experiment(
    name="inits",
    section="§5",
    chapter="10_learning",
    claim="N(0, 0.01) weights with biases 1 speed up early learning; weight decay lowers the training error",
    sizes=SIZES,
    tolerance=0.04,  # first-epoch error rates (over windows of 10 batches) across CPUs
    load=load,
    units=units,
    run_unit=run_unit,
    summarise=summarise,
    rows=rows,
    figure=figure,
)
