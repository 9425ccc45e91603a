"""Paper §6.1 (Figure 4): the §6 net's five most probable labels, and its nearest neighbours.

Read from the net `table2` trained and stored (``results/table2.npz``), on the same Fashion-MNIST
images. Left: the first test image of each of eight classes, scored the paper's way (the softmax
averaged over ten patches), with its five most probable labels. Right: five test images (the
second of classes 1, 3, 5, 7 and 9) and the six training images nearest to each in the last
hidden layer (fc7 after its ReLU, `hidden_features`), beside the six nearest in pixel space; and
for every test image, the share of its six nearest training images that have its class, in both
spaces, against the share of a random choice.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..augment import ten_crop, ten_crop_predict
from ..viz import hidden_features, nearest_neighbours
from . import table2
from .datasets import SmallData, load_small
from .record import load_result, result_arrays
from .registry import Experiment, Row
from .summary import pct, points, t_difference

CHECK = (10_000, 1_000)  # what a re-run compares: the first 1,000 test images among the first 10,000 training images
SIZES = {
    "live": dict(result="table2", shown=8, queries=5, neighbours=6, bank=10000, test=1000),
    "full": dict(result="table2", shown=8, queries=5, neighbours=6, bank=None, test=None),
}


@dataclass
class TrainedNet:
    """The data of the stored run and its trained net (in eval mode)."""

    data: SmallData
    net: torch.nn.Module

    @property
    def info(self) -> dict:
        return self.data.info


def load(config: dict, device) -> TrainedNet:
    """The stored §6 run's images, and its net with the stored weights."""
    data = load_small(load_result(config["result"])["config"], device)
    net = table2.build(data)
    net.load_state_dict({k: torch.from_numpy(v) for k, v in result_arrays(config["result"]).items()})
    return TrainedNet(data, net.to(device).eval())


def units(config: dict, done: list) -> list[dict]:
    return [dict(layer="classifier.relu7")]


def _nearest(queries: torch.Tensor, bank: torch.Tensor, k: int) -> torch.Tensor:
    return torch.cat([nearest_neighbours(queries[i:i + 1000], bank, k=k, device=bank.device)[1]
                      for i in range(0, len(queries), 1000)])


def _neighbours(features: dict, y_train: torch.Tensor, y_test: torch.Tensor, k: int) -> tuple[dict, dict]:
    """Per space (``features[space] = (bank, queries)``): each query's k nearest bank rows, and the
    share of them that have the query's class."""
    neighbours = {space: _nearest(test, bank, k) for space, (bank, test) in features.items()}
    return neighbours, {space: (y_train[ids] == y_test[:, None]).double().mean(1) for space, ids in neighbours.items()}


def run_unit(config: dict, unit: dict, trained: TrainedNet, epochs: int | None = None) -> dict:
    """The figure's numbers; with ``epochs`` (a re-run's first part) only the top-5 scores and the
    neighbours of the first `CHECK` test images among the first training images."""
    (x_train, y_train), (x_test, y_test) = trained.data.train, trained.data.test
    n_bank, n_test = (CHECK if epochs else (config["bank"], config["test"]))
    x_train, y_train, x_test, y_test = x_train[:n_bank], y_train[:n_bank].cpu(), x_test[:n_test], y_test[:n_test].cpu()
    net, crop, k = trained.net, table2.CROP, config["neighbours"]
    shown = [int((y_test == c).nonzero()[0]) for c in range(config["shown"])]
    probs = ten_crop_predict(net, x_test[shown], size=crop)
    scores, labels = probs.topk(5, dim=1)

    def centre(x):  # the centre 28x28 patch, as one view is scored
        return ten_crop(x, crop)[2].contiguous()

    features = {"fc7": [hidden_features(net, centre(x), unit["layer"], batch_size=1000, device=x.device)
                        for x in (x_train, x_test)],
                "pixels": [centre(x).flatten(1).cpu() for x in (x_train, x_test)]}
    first = {space: (bank[:CHECK[0]], test[:CHECK[1]]) for space, (bank, test) in features.items()}
    _, check = _neighbours(first, y_train[:CHECK[0]], y_test[:CHECK[1]], k)
    outcome = {"top5_scores": scores.tolist(), "check_agreement": [check["fc7"].mean().item(), check["pixels"].mean().item()]}
    if epochs:
        return outcome
    neighbours, share = _neighbours(features, y_train, y_test, k)
    chance = (y_train[None, :] == y_test[:, None]).double().mean().item()
    d = share["fc7"] - share["pixels"]  # per test image: paired
    queries = [int((y_test == c).nonzero()[1]) for c in range(1, 2 * config["queries"], 2)]
    outcome.update(agreement=[share["fc7"].mean().item(), share["pixels"].mean().item(), chance],
                   fc7_minus_pixels=[d.mean().item(), d.std().item() / len(d) ** 0.5],
                   shown=shown, shown_labels=y_test[shown].tolist(), top5_labels=labels.tolist(),
                   queries=queries, query_labels=y_test[queries].tolist(),
                   neighbours={s: ids[queries].tolist() for s, ids in neighbours.items()},
                   neighbour_labels={s: y_train[ids[queries]].tolist() for s, ids in neighbours.items()})
    return outcome


def summarise(config: dict, done: list) -> dict:
    _, outcome = done[0]
    fc7, pixels, chance = outcome["agreement"]
    in_top5 = sum(y in top for y, top in zip(outcome["shown_labels"], outcome["top5_labels"]))
    top1 = sum(y == top[0] for y, top in zip(outcome["shown_labels"], outcome["top5_labels"]))
    diff, se = outcome["fc7_minus_pixels"]
    n = config["test"] or load_result(config["result"])["config"]["n_test"]  # None: every test image
    fc7_minus_pixels = t_difference(diff, se, n - 1, 1, f"paired Student-t 95%, n = {n:,} test images", n)
    return {"agreement": {"fc7": fc7, "pixels": pixels, "chance": chance},
            "fc7_minus_pixels": fc7_minus_pixels,
            "shown": len(outcome["shown"]),
            "shown_in_top5": in_top5, "shown_top1": top1, "verdict": fc7_minus_pixels["verdict"]}


def rows(m: dict) -> list[Row]:
    """Its lines of the claims page."""
    a = m["agreement"]
    return [("the last hidden layer's nearest neighbours share the query's class, pixel neighbours less",
             "Figure 4 (right), no number",
             f"{pct(a['fc7'])} of the 6 nearest share it in fc7, {pct(a['pixels'])} in pixels, {pct(a['chance'])} "
             f"by chance: {points(m['fc7_minus_pixels'])}", m["fc7_minus_pixels"]["verdict"])]


EXPERIMENT = Experiment(
    name="figure4",
    section="§6.1",
    chapter="12_qualitative",
    claim="images near each other in the last hidden layer share a class, where pixel distance does not tell",
    sizes=SIZES,
    tolerance=0.02,  # probabilities and shares of neighbours across CPUs
    load=load,
    units=units,
    run_unit=run_unit,
    summarise=summarise,
    rows=rows,
)
