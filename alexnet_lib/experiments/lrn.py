"""Paper §3.3: does local response normalisation lower the test error of a small CNN?

The paper: on CIFAR-10 a four-layer CNN has 13% test error without normalisation and 11% with
it. Here: `CifarNet` with and without the paper's LRN (after the ReLUs of conv1 and conv2), same
recipe, over seeds, at two input scales. ``unit`` is PyTorch practice (each channel at unit
variance): activations stay small, so k = 2 dominates the denominator and LRN is close to a fixed
scaling. ``raw`` is what the 2012 code fed its nets (pixel values minus the mean, 0..255 units):
there activations are large and neighbouring maps compete. After every epoch, the share of units
(on 500 test images) whose divisor exceeds k^beta by more than 1% says whether they do.
"""

from __future__ import annotations

import torch

from ..layers import competing
from ..models import CifarNet
from ..resident import train_resident
from .datasets import load_small
from .plots import final_per_seed, paired_differences
from .registry import Experiment, Row
from .summary import difference, pct, points, seed_stats

SIZES = {
    "live": dict(dataset="fashion-mnist", n_train=2000, n_test=1000, epochs=2, batch=64,
                 lr={"unit": 0.02, "raw": 0.002}, seeds=[0, 1]),
    "full": dict(dataset="fashion-mnist", n_train=60000, n_test=10000, epochs=4, batch=64,
                 lr={"unit": 0.02, "raw": 0.002}, seeds=[0, 1, 2, 3, 4, 5]),
}


def load(config: dict, device):
    return load_small(config, device)


def units(config: dict, done: list) -> list[dict]:
    return [dict(scale=scale, lrn=lrn, seed=seed) for scale in config["lr"] for seed in config["seeds"]
            for lrn in (False, True)]


def lrn_inputs(model, images: torch.Tensor) -> list[torch.Tensor]:
    """`CifarNet`'s conv1 and conv2 ReLU outputs for ``images``: what LRN divides, or would divide
    in a net without it."""
    seen = []
    hooks = [m.register_forward_hook(lambda m, i, o: seen.append(o.detach()))
             for m in (model.features.act1, model.features.act2)]
    was_training = model.training
    with torch.no_grad():
        model.eval()(images)
    model.train(was_training)
    for h in hooks:
        h.remove()
    return seen


def competing_share(model, images: torch.Tensor) -> float:
    """The share of conv1's and conv2's units that LRN's paper constants divide by more than 1%
    beyond k^beta (`layers.competing`)."""
    seen = lrn_inputs(model, images)
    return sum(competing(a).sum().item() for a in seen) / sum(a.numel() for a in seen)


def run_unit(config: dict, unit: dict, data, epochs: int | None = None) -> dict:
    data = data.raw() if unit["scale"] == "raw" else data
    x, _ = data.train
    probe = data.test[0][:500]
    torch.manual_seed(unit["seed"])
    net = CifarNet(num_classes=data.info["classes"], in_channels=x.shape[1], image_size=x.shape[-1],
                   lrn=unit["lrn"])
    share = []
    history = train_resident(net, data.train, epochs=epochs or config["epochs"], lr=config["lr"][unit["scale"]],
                             batch_size=config["batch"], seed=unit["seed"], val=data.test, progress=False,
                             after_epoch=lambda model: share.append(competing_share(model, probe)))
    return {"train_error": history.train_error, "test_error": history.val_error, "competing": share}


def summarise(config: dict, done: list) -> dict:
    out = {}
    for scale in config["lr"]:
        final = {lrn: [o["test_error"][-1] for u, o in done if u["scale"] == scale and u["lrn"] == lrn]
                 for lrn in (False, True)}
        share = [o["competing"][-1] for u, o in done if u["scale"] == scale and u["lrn"]]
        out[scale] = {"without": seed_stats(final[False]), "with": seed_stats(final[True]),
                      "with_minus_without": difference(final[True], final[False], paper_sign=-1, paired=True),
                      "competing": seed_stats(share)}
    return out


SCALES = {"unit": ("unit-variance inputs", "--", "unit variance"),  # legend, line style, short label
          "raw": ("raw pixels - mean (2012)", "-", "raw pixels")}
PAPER_CIFAR10 = (0.13, 0.11)  # §3.3: test error without and with LRN


def figure(result: dict):
    """Left: each run's test error per epoch; middle: the share of conv1's and conv2's units that LRN
    divides by more than 1% beyond k^beta (in a net without LRN: would divide); one line per input
    scale (line style), with or without LRN (colour) and seed. Right: with minus without per seed,
    with their mean, Student-t 95% interval and verdict (`plots.paired_differences`), beside the
    paper's CIFAR-10 difference."""
    import matplotlib.pyplot as plt

    config, m = result["config"], result["metrics"]
    fig, (error, share, diffs) = plt.subplots(1, 3, figsize=(13, 3.8), gridspec_kw={"width_ratios": [3, 3, 2]})
    for unit in result["units"]:
        scale, lrn, seed = unit["unit"]["scale"], unit["unit"]["lrn"], unit["unit"]["seed"]
        words, style, _ = SCALES[scale]
        kw = dict(ls=style, color="C1" if lrn else "C0", lw=1, marker="o", ms=2.5,
                  label=f"{words}, {'with' if lrn else 'without'} LRN" if seed == config["seeds"][0] else None)
        epochs = range(1, len(unit["test_error"]) + 1)
        error.plot(epochs, [100 * e for e in unit["test_error"]], **kw)
        share.plot(epochs, [100 * c for c in unit["competing"]], **kw)
    error.set(xlabel="epoch", ylabel="test error (%)", xticks=list(epochs))
    share.set(xlabel="epoch", ylabel="units divided >1% beyond $k^\\beta$ (%)", xticks=list(epochs), ylim=(-3, 103))
    error.legend(fontsize=7)

    def with_minus_without(scale):  # each seed's final test error, with LRN minus without
        with_lrn, without = (final_per_seed(result, "test_error", scale=scale, lrn=lrn) for lrn in (True, False))
        return [a - b for a, b in zip(with_lrn, without)]

    paired_differences(diffs, [(SCALES[scale][2], with_minus_without(scale), m[scale]["with_minus_without"])
                               for scale in m], "with - without LRN (points of test error)")
    diffs.axhline(100 * (PAPER_CIFAR10[1] - PAPER_CIFAR10[0]), color="C3", ls=":", lw=1.2, label="the paper, CIFAR-10")
    diffs.legend(fontsize=7, loc="best")
    n = len(config["seeds"])
    fig.suptitle(f"§3.3 in miniature: CifarNet with and without LRN on {result['data']['name'].split(' (')[0]}, "
                 f"{result['data']['train_images']:,} training images, {config['epochs']} epochs, {n} seeds",
                 fontsize=10)
    fig.tight_layout()
    return fig


def rows(m: dict) -> list[Row]:
    """Its lines of the claims page."""
    words = {"unit": "unit-variance inputs", "raw": "the 2012 code's raw pixels"}
    return [(f"LRN lowers a four-layer CNN's test error ({words[s]})", "13% -> 11% on CIFAR-10",
             f"{pct(v['without']['mean'])} -> {pct(v['with']['mean'])}: {points(v['with_minus_without'])}; "
             f"{v['competing']['mean']:.0%} of units compete", v["with_minus_without"]["verdict"])
            for s, v in m.items()]


EXPERIMENT = Experiment(
    name="lrn",
    section="§3.3",
    chapter="05_lrn",
    claim="response normalisation lowers a four-layer CNN's CIFAR-10 test error from 13% to 11%",
    sizes=SIZES,
    tolerance=0.02,  # first-epoch error rates and shares of units across CPUs
    load=load,
    units=units,
    run_unit=run_unit,
    summarise=summarise,
    rows=rows,
    figure=figure,
)
