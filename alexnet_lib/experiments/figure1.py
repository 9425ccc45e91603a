"""Paper §3.1, Figure 1: how many epochs ReLU and tanh nets need to reach a training error.

The paper: a four-layer CNN with ReLUs reaches 25% training error on CIFAR-10 six times faster
than the same net with tanh units, each with the learning rate that made it train fastest. Here:
`CifarNet` with either unit, a learning-rate sweep per net (seed 0), then more seeds at each net's
fastest rate. The threshold is fixed in the config, before any run. The training error is
recorded every ``record_every`` batches (`train_resident`'s ``steps``), so a crossing is resolved
to a fraction of an epoch. Two variants of the start: ``pytorch`` (unit-variance inputs,
PyTorch's default init) and ``2012`` (the 2012 code: raw mean-subtracted pixels, weights
N(0, 1e-4) in conv1 and N(0, 0.01) elsewhere, biases 0, as cuda-convnet's ``layers-18pct.cfg``).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from ..models import CifarNet
from ..resident import train_resident
from .datasets import load_small
from .registry import Experiment, Row

ACTIVATIONS = ("relu", "tanh")
SIZES = {
    "live": dict(dataset="fashion-mnist", n_train=5000, n_test=1000, epochs=2, batch=128,
                 lrs={"pytorch": [0.01, 0.05]}, seeds=[0], threshold=0.3,
                 thresholds=[0.5, 0.4, 0.3], record_every=5),
    "full": dict(dataset="fashion-mnist", n_train=60000, n_test=10000, epochs=3, batch=128,
                 lrs={"pytorch": [0.01, 0.02, 0.05, 0.1, 0.2], "2012": [0.002, 0.005, 0.01, 0.02, 0.05]},
                 seeds=[0, 1, 2], threshold=0.15, thresholds=[0.3, 0.25, 0.2, 0.15, 0.12], record_every=20),
}


def load(config: dict, device):
    """At unit variance; the ``2012`` runs rescale it to raw pixels minus the mean (`SmallData.raw`)."""
    return load_small(config, device)


def init_2012_(net: nn.Module) -> nn.Module:
    """cuda-convnet's ``layers-18pct.cfg`` init: N(0, 1e-4) for conv1, N(0, 0.01) for the rest, biases 0."""
    for name, m in net.named_modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 1e-4 if name.endswith("conv1") else 1e-2)
            nn.init.zeros_(m.bias)
    return net


def units(config: dict, done: list) -> list[dict]:
    """The sweep (every rate, first seed); then, once a net's sweep is done, its other seeds."""
    todo = []
    for variant, lrs in config["lrs"].items():
        for activation in ACTIVATIONS:
            sweep = [dict(variant=variant, activation=activation, lr=lr, seed=config["seeds"][0])
                     for lr in lrs]
            todo += sweep
            finished = [(u, o) for u, o in done if u in sweep]
            if len(finished) == len(sweep):
                lr = fastest(config, finished, config["threshold"])
                todo += [dict(variant=variant, activation=activation, lr=lr, seed=s) for s in config["seeds"][1:]]
    return todo


def run_unit(config: dict, unit: dict, data, epochs: int | None = None) -> dict:
    data = data.raw() if unit["variant"] == "2012" else data
    x, y = data.train
    torch.manual_seed(unit["seed"])
    net = CifarNet(unit["activation"], num_classes=data.info["classes"], in_channels=x.shape[1],
                   image_size=x.shape[-1])
    if unit["variant"] == "2012":
        init_2012_(net)
    history = train_resident(net, data.train, epochs=epochs or config["epochs"], lr=unit["lr"],
                             batch_size=config["batch"], seed=unit["seed"], progress=False,
                             record_every=config["record_every"])
    return {"train_error": history.train_error, "train_loss": history.train_loss,
            "steps": [list(s) for s in history.steps]}


def epochs_to(config: dict, outcome: dict, threshold: float) -> float | None:
    """Epochs until the recorded training error first reaches ``threshold`` (linear between points)."""
    per_epoch = math.ceil(config["n_train"] / config["batch"])
    before = (0, 1.0)
    for step, error in outcome["steps"]:
        if error <= threshold:
            (s0, e0) = before
            crossing = s0 + (step - s0) * (e0 - threshold) / (e0 - error) if e0 > error else step
            return crossing / per_epoch
        before = (step, error)
    return None


def fastest(config: dict, finished: list, threshold: float) -> float:
    """The learning rate whose run reached ``threshold`` first (else the lowest final error)."""
    def slowness(item):
        reached = epochs_to(config, item[1], threshold)
        return (reached if reached is not None else math.inf, item[1]["train_error"][-1])
    return min(finished, key=slowness)[0]["lr"]


def _runs(done: list, variant: str, activation: str, **match) -> list:
    return [(u, o) for u, o in done if u["variant"] == variant and u["activation"] == activation
            and all(u[k] == v for k, v in match.items())]


def summarise(config: dict, done: list) -> dict:
    """Per variant: each net's fastest rate, its epochs to the threshold per seed, the tanh / ReLU
    ratio (per seed, mean, range), the ratio at other thresholds (the sweep's seed) and a verdict."""
    threshold, first_seed = config["threshold"], config["seeds"][0]
    out = {"threshold": threshold, "variants": {}}
    for variant in config["lrs"]:
        v = {}
        for activation in ACTIVATIONS:
            lr = fastest(config, _runs(done, variant, activation, seed=first_seed), threshold)
            runs = _runs(done, variant, activation, lr=lr)
            v[activation] = {"lr": lr, "epochs": [epochs_to(config, o, threshold) for _, o in runs],
                             "final_error": [o["train_error"][-1] for _, o in runs]}
        ratios = [t / r if t and r else None for t, r in zip(v["tanh"]["epochs"], v["relu"]["epochs"])]
        known = [r for r in ratios if r is not None]
        v.update(ratio=ratios, ratio_mean=float(np.mean(known)) if known else None,
                 ratio_range=[min(known), max(known)] if known else None, across_thresholds={})
        for t in config["thresholds"]:
            e = {}
            for activation in ACTIVATIONS:
                sweep = _runs(done, variant, activation, seed=first_seed)
                lr = fastest(config, sweep, t)
                e[activation] = epochs_to(config, next(o for u, o in sweep if u["lr"] == lr), t)
            e["ratio"] = e["tanh"] / e["relu"] if e["relu"] and e["tanh"] else None
            v["across_thresholds"][f"{t:g}"] = e
        relu_never = any(e is None for e in v["relu"]["epochs"])
        tanh_never = any(e is None for e in v["tanh"]["epochs"])
        if not relu_never and (tanh_never or min(known) > 1):
            v["verdict"] = "reproduced"  # ReLU first in every seed
        elif not tanh_never and (relu_never or max(known) < 1):
            v["verdict"] = "contradicted"  # tanh first in every seed
        else:
            v["verdict"] = "not resolved at this size"
        out["variants"][variant] = v
    return out


START = {"pytorch": "PyTorch's init, unit-variance inputs", "2012": "the 2012 code's init, raw pixels"}
STYLES = {"relu": dict(color="tab:blue", ls="-"), "tanh": dict(color="tab:red", ls="--")}
FIRST = {"reproduced": "ReLU first in every seed", "contradicted": "tanh first in every seed",
         "not resolved at this size": "neither net first in every seed"}


def figure(result: dict):
    """Figure 1 as the runs drew it: for each start, the training error (over the last
    ``record_every`` batches) against epochs, ReLU solid and tanh dashed, each net's fastest rate
    bold (every seed) and the sweep's other rates faint, the threshold in black; right, tanh's
    epochs over ReLU's at each of ``thresholds`` (the sweep's seed, each net at its fastest rate
    for that threshold; no point where a net never got there), against the paper's 6."""
    import matplotlib.pyplot as plt

    config, m = result["config"], result["metrics"]
    per_epoch = math.ceil(config["n_train"] / config["batch"])  # as `epochs_to` counts them
    seeds = f"{len(config['seeds'])} seed{'s' if len(config['seeds']) > 1 else ''}"
    fig, axes = plt.subplots(1, len(m["variants"]) + 1, figsize=(4.2 * (len(m["variants"]) + 1), 3.8))
    for ax, (variant, v) in zip(axes, m["variants"].items()):
        for activation in ACTIVATIONS:
            labelled = set()
            for unit in result["units"]:
                u = unit["unit"]
                if (u["variant"], u["activation"]) != (variant, activation):
                    continue
                bold = u["lr"] == v[activation]["lr"]
                label = f"{activation}, lr {u['lr']:g} (fastest), {seeds}" if bold else f"{activation}, other rates"
                steps, errors = zip(*unit["steps"])
                ax.plot([s / per_epoch for s in steps], errors, lw=1.2 if bold else 0.7, alpha=1 if bold else 0.3,
                        label=None if label in labelled else label, **STYLES[activation])
                labelled.add(label)
        ax.axhline(m["threshold"], color="black", lw=0.8)
        ax.set(title=f"{START[variant]}:\n{FIRST[v['verdict']]}", xlabel="epochs",
               ylabel=f"training error (last {config['record_every']} batches)", ylim=(0, 0.9))
        ax.title.set_fontsize(9)
        ax.legend(fontsize=7)
    ratio_ax = axes[-1]
    for variant, v in m["variants"].items():
        points = [(100 * t, v["across_thresholds"][f"{t:g}"]["ratio"]) for t in config["thresholds"]]
        ratio_ax.plot(*zip(*[(t, r) for t, r in points if r is not None]), "o-", label=START[variant].split(",")[0])
    ratio_ax.axhline(1, color="grey", lw=0.8, ls=":")
    ratio_ax.axhline(6, color="black", lw=0.8, ls="--", label="the paper: 6 (25%, CIFAR-10)")
    ratio_ax.axvline(100 * m["threshold"], color="black", lw=0.8)
    ratio_ax.set(yscale="log", ylim=(0.2, 10), xlabel="threshold (% training error)",
                 ylabel=f"tanh's epochs / ReLU's (seed {config['seeds'][0]})",
                 title="above 1: ReLU first; black line: the threshold")
    ratio_ax.set_yticks([0.25, 0.5, 1, 2, 4, 8], ["0.25", "0.5", "1", "2", "4", "8"])
    ratio_ax.minorticks_off()
    ratio_ax.invert_xaxis()
    ratio_ax.title.set_fontsize(9)
    ratio_ax.legend(fontsize=7)
    data = result["data"]
    fig.suptitle(f"Figure 1 on {data['train_images']:,} {data['name'].split(' (')[0]} training images: CifarNet with "
                 f"ReLU (solid) or tanh (dashed), threshold {m['threshold']:.0%}", fontsize=10)
    fig.tight_layout()
    return fig


def rows(m: dict) -> list[Row]:
    """Its lines of the claims page."""
    rows = []
    for variant, v in m["variants"].items():
        start = "PyTorch's init, unit-variance inputs" if variant == "pytorch" else "the 2012 code's init and raw pixels"
        never = sum(e is None for e in v["tanh"]["epochs"])
        ratio = (f"tanh needs {v['ratio_mean']:.2f}x ReLU's epochs (seeds {v['ratio_range'][0]:.2f}-"
                 f"{v['ratio_range'][1]:.2f}{f'; tanh never got there in {never}' if never else ''})"
                 if v["ratio_mean"] else "one net never reached it")
        rows.append((f"Figure 1: ReLU reaches a training error faster than tanh ({start})",
                     "25% on CIFAR-10, 6x fewer epochs",
                     f"{m['threshold']:.0%} on Fashion-MNIST: {ratio}", v["verdict"]))
    return rows


EXPERIMENT = Experiment(
    name="figure1",
    section="§3.1",
    chapter="03_relu",
    claim="a ReLU net reaches 25% training error on CIFAR-10 six times faster than the same net with tanh",
    sizes=SIZES,
    tolerance=0.04,  # first-epoch error rates (over 20-batch windows: 2,560 images) across CPUs
    load=load,
    units=units,
    run_unit=run_unit,
    summarise=summarise,
    rows=rows,
    figure=figure,
)
