"""The small-image data the experiments train on, resident on the device (`alexnet_lib.resident`).

An experiment's config names its data; ``load_small`` turns that into resident tensors:

* ``dataset``: ``fashion-mnist`` (real, offline) or ``cifar10`` (real, downloaded);
* ``n_train``: that many training images, drawn at random under seed 0 (all of them when it
  equals the training set's size); ``n_test``: the first that many test images;
* ``side`` (optional): zero-pad the images to this side (Fashion-MNIST's 28 -> 32);
* ``scale``: ``unit`` (each channel to mean 0, variance 1: PyTorch practice) or ``raw`` (only the
  training mean subtracted, pixel values kept in 0..255 units: what the 2012 code fed its nets);
  `SmallData.raw` turns the first into the second.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..config import get_device
from ..data import ImageArrays, load_small_dataset
from ..evaluate import evaluate
from ..resident import ResidentData, channel_stats, to_device_dataset, train_resident

PROFILE_OF = {"fashion-mnist": "smoke", "cifar10": "course"}  # the profile whose small dataset it is


@dataclass
class SmallData:
    """Resident training and test sets, with what a stored result says about them."""

    train: ResidentData
    test: ResidentData
    info: dict  # name, real, train_images, test_images, classes
    std: torch.Tensor | None = None  # per channel, when the images were scaled to unit variance

    def raw(self) -> SmallData:
        """The same images as the 2012 code fed them: pixel values minus the mean, in 0..255 units."""
        if self.std is None:
            return self
        std = self.std[:, None, None]
        return SmallData(*((x * std, y) for x, y in (self.train, self.test)), self.info)


def _pick(arrays: ImageArrays, index: torch.Tensor, side: int | None) -> ImageArrays:
    images = arrays.images[index]
    if side and images.shape[-1] < side:
        pad = (side - images.shape[-1]) // 2
        images = F.pad(images, (pad, side - images.shape[-1] - pad) * 2)  # background is 0
    return ImageArrays(images, arrays.labels[index], arrays.classes, arrays.source)


def load_small(config: dict, device=None) -> SmallData:
    """The config's training subset and test slice, normalised by the training subset's statistics."""
    device = torch.device(device) if device is not None else get_device()
    train_all = load_small_dataset(train=True, profile=PROFILE_OF[config["dataset"]])
    test_all = load_small_dataset(train=False, profile=PROFILE_OF[config["dataset"]])
    n_train = min(config["n_train"], len(train_all))
    index = (torch.arange(n_train) if n_train == len(train_all)
             else torch.randperm(len(train_all), generator=torch.Generator().manual_seed(0))[:n_train])
    train_arrays = _pick(train_all, index, config.get("side"))
    test_arrays = _pick(test_all, torch.arange(min(config["n_test"], len(test_all))), config.get("side"))
    train = to_device_dataset(train_arrays, device)
    test = to_device_dataset(test_arrays, device, stats_from=train_arrays)
    info = {"name": train_all.source, "real": True, "train_images": len(train[1]),
            "test_images": len(test[1]), "classes": len(train_all.classes)}
    data = SmallData(train, test, info, channel_stats(train_arrays)[1].to(device).clamp(min=1e-6))
    return data.raw() if config.get("scale", "unit") == "raw" else data


def batches(data: ResidentData, size: int = 1000) -> list[ResidentData]:
    """A resident dataset in consecutive slices, for `alexnet_lib.evaluate.evaluate`."""
    x, y = data
    return [(x[i:i + size], y[i:i + size]) for i in range(0, len(y), size)]


def train_with_both_errors(net, config: dict, seed: int, data: SmallData, epochs: int | None = None) -> dict:
    """Train ``net`` on ``data.train`` (the config's epochs, lr and batch; SGD with momentum, seeded by
    ``seed``) and measure after every epoch the training error in eval mode (the whole net, e.g.
    dropout at its test-time rule) and the held-out error: ``{"train_error": [...], "test_error": [...]}``."""
    train_error = []
    history = train_resident(net, data.train, epochs=epochs or config["epochs"], lr=config["lr"],
                             batch_size=config["batch"], seed=seed, val=data.test, progress=False,
                             after_epoch=lambda model: train_error.append(
                                 evaluate(model, batches(data.train), data.train[0].device, ks=(1,))[1]))
    return {"train_error": train_error, "test_error": history.val_error}
