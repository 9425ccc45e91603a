"""Paper §3.1, §3.3, §3.4: the small CIFAR-10 net of the paper's side experiments."""

from __future__ import annotations

import math
from collections import OrderedDict

import torch
from torch import nn

from ..errors import AlexNetError
from ..layers import LocalResponseNorm


class CifarNet(nn.Module):
    """Paper §3.1 (Figure 1), §3.3, §3.4: the four-layer CIFAR-10 net, as cuda-convnet's 18pct file.

    The paper does not spell the net out; most likely it is ``layers-18pct.cfg`` from the
    authors' public cuda-convnet code (2011-2012):

    conv 32 5x5 pad 2 -> max-pool 3/2 -> conv 32 5x5 pad 2 -> avg-pool 3/2 -> conv 64 5x5 pad 2 ->
    avg-pool 3/2 -> fc ``num_classes``: three conv layers and one fully-connected layer, logits out.

    ``activation`` ("relu" or "tanh", Figure 1's two curves) follows each conv layer. That is
    where the 18pct file puts conv2's and conv3's ReLUs; it puts conv1's after max-pool1, which
    computes the same thing because max-pooling commutes with any increasing function (ReLU and
    tanh both are).

    Pools round up, as cuda-convnet's did: out = 1 + ceil((in - 3) / 2) (``ceil_mode=True``), so
    32 -> 16 -> 8 -> 4 for CIFAR-10 and 28 -> 14 -> 7 -> 3 for Fashion-MNIST (``in_channels=1,
    image_size=28``). A last window that hangs over the edge pools only the pixels it covers (for
    average pooling PyTorch divides by their number).

    ``lrn=True`` adds the paper's §3.3 normalisation (n = 5, alpha = 1e-4, beta = 0.75, k = 2)
    after the activations of conv1 and conv2, before their pools: where cuda-convnet's
    ``layers-conv-local-11pct`` file puts its across-maps normalisation and where AlexNet has it.
    (§3.3's 13% vs 11% CIFAR-10 errors most likely come from that file's net, 2 conv + 2 locally
    connected layers, and its ``-13pct`` twin without normalisation; the net here is 18pct's.)
    The 18pct file also has two *within-map* normalisation layers (after pool1 and pool2), a
    different operation that Figure 1 does not mention: left out.

    ``pool_size`` (Paper §3.4) is z, the side of every pooling window; the stride s stays 2.
    z = 3 > s is the 18pct file's (and AlexNet's) overlapping pooling; z = 2 = s is the
    traditional, non-overlapping kind. Both round up, out = 1 + ceil((in - z) / 2): on 32x32
    inputs both give 16 -> 8 -> 4, so the fc layer and the parameter count are the same (§3.4's
    "outputs of the same dimensions"); on 28x28 ones z = 2 gives 14 -> 7 -> 4 against 14 -> 7 -> 3.

    Init: PyTorch's default for Conv2d and Linear (uniform, scaled by 1/sqrt(fan-in)); the
    activations have no parameters, so under the same seed the ReLU and tanh nets start from
    identical weights: a fair race. (18pct's own N(0, 1e-4) / N(0, 0.01) init was for 0..255
    pixel values; our inputs are normalised to unit variance.)
    """

    ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh}

    def __init__(
        self,
        activation: str = "relu",
        num_classes: int = 10,
        in_channels: int = 3,
        image_size: int = 32,
        *,
        lrn: bool = False,
        pool_size: int = 3,
    ):
        super().__init__()
        if pool_size < 2:
            raise AlexNetError(
                f"CifarNet pool_size={pool_size}: windows smaller than the stride 2 skip pixels; "
                "the paper compares 3 (overlapping, the default) with 2 (non-overlapping)."
            )
        if activation not in self.ACTIVATIONS:
            raise AlexNetError(
                f"CifarNet activation={activation!r}: choose one of {', '.join(self.ACTIVATIONS)}."
            )
        act = self.ACTIVATIONS[activation]

        def norm():
            return LocalResponseNorm(size=5, alpha=1e-4, beta=0.75, k=2.0) if lrn else nn.Identity()

        self.features = nn.Sequential(OrderedDict([
            ("conv1", nn.Conv2d(in_channels, 32, kernel_size=5, padding=2)),
            ("act1", act()),
            ("lrn1", norm()),
            ("pool1", nn.MaxPool2d(kernel_size=pool_size, stride=2, ceil_mode=True)),
            ("conv2", nn.Conv2d(32, 32, kernel_size=5, padding=2)),
            ("act2", act()),
            ("lrn2", norm()),
            ("pool2", nn.AvgPool2d(kernel_size=pool_size, stride=2, ceil_mode=True)),
            ("conv3", nn.Conv2d(32, 64, kernel_size=5, padding=2)),
            ("act3", act()),
            ("pool3", nn.AvgPool2d(kernel_size=pool_size, stride=2, ceil_mode=True)),
        ]))
        size = image_size
        for _ in range(3):  # the three z/2 pools, rounding up
            size = 1 + math.ceil((size - pool_size) / 2)
        self.fc = nn.Linear(64 * size * size, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.features(x), 1))
