"""Paper §4.1: random crops and flips in training, and ten views at test time.

The paper: training on random 224x224 patches of the 256x256 images and their mirror images
("without this scheme, our network suffers from substantial overfitting"), and at test time
averaging the softmax over ten patches (four corners, centre, and their mirrors). Here, in
miniature: Fashion-MNIST padded to 32x32, `CifarNet` trained on random 28x28 patches with flips,
or on the centre patch alone (the unpadded image), over seeds; after every epoch the test error
of the centre view and of the ten-view average (`ten_crop_predict`). PCA lighting needs three
colour channels: on greyscale images it is a brightness shift, and is left to the photographs
of the §4.1 chapter.
"""

from __future__ import annotations

import torch

from ..augment import random_crops_and_flips, ten_crop, ten_crop_predict
from ..evaluate import topk_errors
from ..models import CifarNet
from ..resident import train_resident
from .datasets import load_small
from .plots import final_per_seed, paired_differences
from .registry import Experiment, Row
from .summary import difference, pct, points, seed_stats

CROP = 28
SIZES = {
    "live": dict(dataset="fashion-mnist", n_train=2000, n_test=1000, side=32, epochs=2, batch=64, lr=0.02,
                 seeds=[0]),
    "full": dict(dataset="fashion-mnist", n_train=30000, n_test=5000, side=32, epochs=6, batch=64, lr=0.02,
                 seeds=[0, 1, 2]),
}


def load(config: dict, device):
    return load_small(config, device)


def units(config: dict, done: list) -> list[dict]:
    return [dict(augment=a, seed=seed) for seed in config["seeds"] for a in ("centre", "crops+flips")]


def _errors(model, test) -> tuple[float, float]:
    """Test top-1 error of the centre view and of the ten-view average."""
    x, y = test
    model.eval()
    with torch.no_grad():
        one = model(ten_crop(x, CROP)[2]).softmax(-1)  # view 2 of ten_crop is the centre
        ten = ten_crop_predict(model, x, size=CROP)
    model.train()
    return topk_errors(one, y, (1,))[1], topk_errors(ten, y, (1,))[1]


def run_unit(config: dict, unit: dict, data, epochs: int | None = None) -> dict:
    x, y = data.train
    if unit["augment"] == "centre":
        train, augment = (ten_crop(x, CROP)[2].contiguous(), y), None
    else:
        train, augment = data.train, (lambda images, g: random_crops_and_flips(images, CROP, g))
    torch.manual_seed(unit["seed"])
    net = CifarNet(num_classes=data.info["classes"], in_channels=x.shape[1], image_size=CROP)
    errors = []
    history = train_resident(net, train, epochs=epochs or config["epochs"], lr=config["lr"],
                             batch_size=config["batch"], seed=unit["seed"], progress=False, augment=augment,
                             after_epoch=lambda model: errors.append(_errors(model, data.test)))
    return {"train_error": history.train_error, "one_view": [e[0] for e in errors],
            "ten_views": [e[1] for e in errors]}


def summarise(config: dict, done: list) -> dict:
    out = {}
    final = {}
    for a in ("centre", "crops+flips"):
        runs = [o for u, o in done if u["augment"] == a]
        final[a] = {k: [o[k][-1] for o in runs] for k in ("train_error", "one_view", "ten_views")}
        out[a] = {k: seed_stats(v) for k, v in final[a].items()}
        out[a]["ten_minus_one"] = difference(final[a]["ten_views"], final[a]["one_view"], paper_sign=-1, paired=True)
    out["augment_minus_centre"] = difference(final["crops+flips"]["one_view"], final["centre"]["one_view"],
                                             paper_sign=-1, paired=True)
    return out


ARMS = {"centre": ("centre patch only", "C0"), "crops+flips": ("random crops + flips", "C1")}


def figure(result: dict):
    """Left: each run's error per epoch, on its training batches (dotted), on the test set's centre
    view (solid) and on the ten-view average (dashed), one line per arm and seed. Right: the claims'
    three paired differences per seed, with their mean, Student-t 95% interval and verdict
    (`plots.paired_differences`)."""
    import matplotlib.pyplot as plt

    config, m = result["config"], result["metrics"]
    fig, (curves, diffs) = plt.subplots(1, 2, figsize=(11, 3.8), gridspec_kw={"width_ratios": [3, 2]})
    for unit in result["units"]:
        name, color = ARMS[unit["unit"]["augment"]]
        first = unit["unit"]["seed"] == config["seeds"][0]
        epochs = range(1, len(unit["one_view"]) + 1)
        for key, style, what in (("train_error", ":", "training"), ("one_view", "-", "test, centre view"),
                                 ("ten_views", "--", "test, 10 views")):
            curves.plot(epochs, [100 * e for e in unit[key]], style, color=color, lw=1, ms=3,
                        marker="o" if key == "one_view" else None, label=f"{name}: {what}" if first else None)
    highest = max(100 * e for u in result["units"] for k in ("train_error", "one_view", "ten_views") for e in u[k])
    curves.set(xlabel="epoch", ylabel="top-1 error (%)", xticks=list(epochs), ylim=(0, 1.45 * highest))
    curves.legend(fontsize=7, ncol=2, loc="upper right")

    shown = [  # label, minuend and subtrahend as (arm, curve), the summary's difference
        ("crops + flips\n- centre only", ("crops+flips", "one_view"), ("centre", "one_view"),
         m["augment_minus_centre"]),
        ("10 views - 1,\ncrops + flips", ("crops+flips", "ten_views"), ("crops+flips", "one_view"),
         m["crops+flips"]["ten_minus_one"]),
        ("10 views - 1,\ncentre only", ("centre", "ten_views"), ("centre", "one_view"), m["centre"]["ten_minus_one"])]
    paired_differences(diffs, [(label, [x - z for x, z in zip(final_per_seed(result, a[1], augment=a[0]),
                                                               final_per_seed(result, b[1], augment=b[0]))], d)
                               for label, a, b, d in shown], "difference in test top-1 error (points)")
    n = len(config["seeds"])
    fig.suptitle(f"§4.1 in miniature: CifarNet on {result['data']['name'].split(' (')[0]}, "
                 f"{result['data']['train_images']:,} training images, {config['epochs']} epochs, "
                 f"{n} seed{'s' if n > 1 else ''} per arm", fontsize=10)
    fig.tight_layout()
    return fig


def rows(m: dict) -> list[Row]:
    """Its lines of the claims page."""
    return [("training on random crops and flips lowers the error", "\"substantial overfitting\" without",
             f"{pct(m['crops+flips']['one_view']['mean'])} vs {pct(m['centre']['one_view']['mean'])} (centre view): "
             f"{points(m['augment_minus_centre'])}", m["augment_minus_centre"]["verdict"]),
            ("averaging ten test views lowers the error", "no separate number (Table 2 uses it)",
             f"{pct(m['crops+flips']['ten_views']['mean'])} vs {pct(m['crops+flips']['one_view']['mean'])}: "
             f"{points(m['crops+flips']['ten_minus_one'])}", m["crops+flips"]["ten_minus_one"]["verdict"]),
            ("PCA lighting lowers top-1 by over 1%", "over 1% top-1", "needs colour images", "not testable here")]


EXPERIMENT = Experiment(
    name="views",
    section="§4.1",
    chapter="08_augmentation",
    claim="crops and flips prevent substantial overfitting; ten test views lower the error further",
    sizes=SIZES,
    tolerance=0.02,  # first-epoch error rates across CPUs
    load=load,
    units=units,
    run_unit=run_unit,
    summarise=summarise,
    rows=rows,
    figure=figure,
)
