"""Paper §6.1 (Figure 3): what the two towers' conv1 kernels learn from real colour photographs.

The paper: the 96 conv1 kernels learned "frequency- and orientation-selective kernels, as well as
various colored blobs"; those of GPU 1 are "largely color-agnostic", those of GPU 2 "largely
color-specific", whatever the initialisation. No labelled colour photographs are offline here, so
the net learns from a surrogate task on the reference photographs (`alexnet_lib.ica`): every
class is one 80x80 patch of a photograph ("exemplar" classes, after Dosovitskiy et al., 2014), and
each training image is that patch seen through the paper's augmentation: a random crop of
random size (48 to 80 pixels, resized to 64), a random flip and PCA lighting. The net is AlexNet's
two towers at 64 pixels: conv1 96x3x11x11 with stride 4, the towers of conv2, conv4, conv5 and
the per-tower LRN, narrower conv2-5 and fully-connected layers. Input (``scale``): ``raw``, pixel
values minus the mean on 0..255, as the 2012 code fed its net, or ``unit``, each channel also divided
by its standard deviation. conv1 starts from N(0, ``conv1_std``), far below §5's
0.01, so that what it shows at the end is what it learned, not its initial noise; the other
layers from He's init (the §5 results). `PaperSGD` with §5's momentum and weight decay.

Measured every ``record`` steps, per tower: `smoothness`, `orientedness`, colourfulness; at the
end, whether the towers differ (`tower_split`). The last unit is the reference: ICA of patches
of the same photographs (`fast_ica`), the kernels a first layer trained on photographs resembles.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torchvision.ops import roi_align

from ..augment import lighting_components, pca_lighting
from ..filters import orientedness, per_tower, smoothness, tower_split
from ..ica import fast_ica, photo_patches
from ..models import AlexNet
from ..optim import PaperSGD
from ..viz import colourfulness
from .datasets import SmallData
from .registry import Experiment, Row

SIZE, EXEMPLAR = 64, 80
SIZES = {
    "live": dict(classes=200, steps=100, record=50, batch=64, lr=0.01, conv1_std=1e-4, scale="raw", seeds=[0],
                 ica_patches=5000, ica_iterations=50),
    "full": dict(classes=1000, steps=8000, record=250, batch=128, lr=0.01, conv1_std=1e-4, scale="raw", seeds=[0, 1],
                 ica_patches=50000, ica_iterations=400),
}


def load(config: dict, device) -> SmallData:
    """The exemplar classes: ``classes`` random 80x80 patches of the reference photographs."""
    exemplars = photo_patches(EXEMPLAR, config["classes"], side=320, seed=0).float().to(device)
    labels = torch.arange(len(exemplars), device=device)
    info = {"name": "exemplar patches of 9 photographs (scikit-image, matplotlib)", "real": True,
            "train_images": len(exemplars), "test_images": 0, "classes": len(exemplars)}
    return SmallData((exemplars, labels), (exemplars[:0], labels[:0]), info)


def units(config: dict, done: list) -> list[dict]:
    return [dict(seed=seed) for seed in config["seeds"]] + [dict(reference="ica")]


def build(classes: int, conv1_std: float) -> AlexNet:
    """The two-tower net at 64 pixels, conv1 drawn from N(0, conv1_std)."""
    net = AlexNet(classes, widths=(96, 128, 192, 192, 128), image_size=SIZE, hidden=512, init="he")
    torch.nn.init.normal_(net.features.conv1.weight, std=conv1_std)
    return net


def exemplar_batch(exemplars: torch.Tensor, lighting, batch: int, generator: torch.Generator):
    """A batch of augmented views of random exemplars: (images, their classes)."""
    n = len(exemplars)
    classes = torch.randint(0, n, (batch,), generator=generator)
    side = torch.randint(48, EXEMPLAR + 1, (batch,), generator=generator).float()
    top, left = (torch.rand(batch, generator=generator) * (EXEMPLAR - side) for _ in range(2))
    boxes = torch.stack([classes.float(), left, top, left + side, top + side], 1).to(exemplars.device)
    images = roi_align(exemplars, boxes, SIZE, spatial_scale=1.0, sampling_ratio=2, aligned=True)
    flip = torch.rand(batch, generator=generator) < 0.5
    images[flip.to(images.device)] = images[flip.to(images.device)].flip(-1)
    lambdas, vectors, mean, divisor = lighting
    images = (pca_lighting(images, lambdas, vectors, generator=generator) - mean[:, None, None]) / divisor[:, None, None]
    return images.contiguous(memory_format=torch.channels_last), classes.to(exemplars.device)


METRICS = {"smoothness": smoothness, "orientedness": orientedness, "colourfulness": colourfulness}


def conv1_metrics(kernels: torch.Tensor) -> dict:
    return {name: per_tower(f(kernels)) for name, f in METRICS.items()}


def _lighting(exemplars: torch.Tensor, scale: str):
    """§4.1's PCA of the exemplars' pixels (`lighting_components`), their mean and the divisor of
    the input: 1 for ``raw`` pixels, each channel's standard deviation for ``unit``."""
    pixels = exemplars.transpose(0, 1).flatten(1).double()
    divisor = pixels.std(1) if scale == "unit" else torch.ones(len(pixels), dtype=torch.float64)
    return (*lighting_components(exemplars), *(t.float().to(exemplars.device) for t in (pixels.mean(1), divisor)))


def run_unit(config: dict, unit: dict, data, epochs: int | None = None) -> dict:
    if unit.get("reference") == "ica":
        return _ica(config, epochs)
    exemplars, _ = data.train
    device = exemplars.device
    torch.manual_seed(unit["seed"])
    net = build(len(exemplars), config["conv1_std"]).to(device, memory_format=torch.channels_last).train()
    initial = net.features.conv1.weight.detach().clone()
    optimizer = PaperSGD(net.parameters(), lr=config["lr"])
    generator = torch.Generator().manual_seed(unit["seed"])
    lighting = _lighting(exemplars, config["scale"])
    steps = config["record"] * epochs if epochs else config["steps"]
    curves = {"step": [], "train_loss": [], "train_error": [], "moved": [],
              **{name: [] for name in conv1_metrics(initial)}}
    loss_sum, wrong, seen = 0.0, 0, 0
    for step in range(1, steps + 1):
        images, labels = exemplar_batch(exemplars, lighting, config["batch"], generator)
        logits = net(images)
        loss = F.cross_entropy(logits, labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        loss_sum += loss.item() * len(labels)
        wrong += (logits.argmax(1) != labels).sum().item()
        seen += len(labels)
        if step % config["record"] == 0:
            w = net.features.conv1.weight.detach().cpu()
            curves["step"].append(step)
            curves["train_loss"].append(loss_sum / seen)
            curves["train_error"].append(wrong / seen)
            curves["moved"].append(((w - initial.cpu()).norm() / w.norm()).item())
            for name, value in conv1_metrics(w).items():
                curves[name].append(value)
            loss_sum, wrong, seen = 0.0, 0, 0
    if epochs is None:
        w = net.features.conv1.weight.detach().cpu()
        curves["split"] = {name: tower_split(f(w)) for name, f in METRICS.items()}
        curves["arrays"] = {"conv1": net.features.conv1.weight.detach().cpu().numpy(),
                            "conv1_init": initial.cpu().numpy()}
    return curves


def _ica(config: dict, epochs: int | None) -> dict:
    kernels, iterations = fast_ica(photo_patches(11, config["ica_patches"]), 96,
                                   iterations=10 if epochs else config["ica_iterations"])
    outcome = {name: [value] for name, value in conv1_metrics(kernels).items()}
    if epochs is None:
        outcome["iterations"] = iterations
        outcome["arrays"] = {"ica": kernels.numpy()}
    return outcome


ORIENTED = 0.3  # orientedness above which a tower's kernels count as oriented (random 0.06, ICA about 0.5)


def summarise(config: dict, done: list) -> dict:
    """Per seed and for ICA: the final numbers per tower; the verdicts: every tower of every seed
    oriented (mean orientedness above `ORIENTED`), and the towers' colourfulness different in every
    seed (permutation p < 0.05, either way round: the paper allows "a renumbering of the GPUs")."""
    out = {}
    for unit, outcome in done:
        name = "ica" if unit.get("reference") == "ica" else f"seed {unit['seed']}"
        final = {metric: outcome[metric][-1] for metric in ("smoothness", "orientedness", "colourfulness")}
        out[name] = {**final, "final_train_error": outcome.get("train_error", [None])[-1],
                     "moved": outcome.get("moved", [None])[-1], "split": outcome.get("split")}
    seeds = [v for k, v in out.items() if k != "ica"]
    out["oriented_verdict"] = ("reproduced" if all(min(v["orientedness"]) > ORIENTED for v in seeds)
                               else "not resolved at this size")
    out["split_verdict"] = ("reproduced" if all(v["split"]["colourfulness"]["p"] < 0.05 for v in seeds)
                            else "not resolved at this size")
    return out


def rows(m: dict) -> list[Row]:
    """Its lines of the claims page."""
    seeds = [k for k in m if k.startswith("seed")]
    colour = "; ".join(f"{k}: {m[k]['colourfulness'][0]:.2f} vs {m[k]['colourfulness'][1]:.2f} "
                       f"(p = {m[k]['split']['colourfulness']['p']:.2g})" for k in seeds)
    oriented = ", ".join(f"{m[k]['orientedness'][0]:.2f}/{m[k]['orientedness'][1]:.2f}" for k in seeds)
    return [("conv1 learns oriented kernels (edges, gratings)", "Figure 3",
             f"orientedness per tower {oriented} (random 0.06, ICA of the photographs "
             f"{m['ica']['orientedness'][0]:.2f}/{m['ica']['orientedness'][1]:.2f})", m["oriented_verdict"]),
            ("tower 1's kernels colour-agnostic, tower 2's colour-specific (two towers on photo patches)",
             "every run", f"colourfulness tower 1 vs 2, {colour}", m["split_verdict"])]


def figure(result: dict):
    """The three measures of conv1 over training, per seed (colour) and tower (solid: tower 1,
    dashed: tower 2), against the ICA reference's mean (grey)."""
    import matplotlib.pyplot as plt

    measures = ("smoothness", "orientedness", "colourfulness")
    fig, axes = plt.subplots(1, 3, figsize=(10, 3.2))
    for unit in [u for u in result["units"] if u["unit"].get("reference") != "ica"]:  # the trained nets
        seed = unit["unit"]["seed"]
        for ax, k in zip(axes, measures):
            for tower, ls in ((0, "-"), (1, "--")):
                ax.plot(unit["step"], [v[tower] for v in unit[k]], ls, color=f"C{seed}",
                        label=f"seed {seed}, tower {tower + 1}")
    for ax, k in zip(axes, measures):
        ax.axhline(sum(result["metrics"]["ica"][k]) / 2, color="grey", lw=0.8, ls=":", label="ICA reference")
        ax.set(xlabel=f"training step (batches of {result['config']['batch']})", title=k)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    return fig


EXPERIMENT = Experiment(
    name="figure3",
    section="§6.1",
    chapter="12_qualitative",
    claim="conv1 learns oriented edges and colour blobs; tower 1 colour-agnostic, tower 2 colour-specific",
    sizes=SIZES,
    tolerance=0.02,  # metrics after the first `record` steps, across CPUs
    load=load,
    units=units,
    run_unit=run_unit,
    summarise=summarise,
    rows=rows,
    figure=figure,
)
