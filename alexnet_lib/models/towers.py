"""Paper §3.2: AlexNet as the paper ran it, one tower of kernels on each of two GPUs."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import torch
from torch import nn

from ..errors import AlexNetError
from ..layers import LocalResponseNorm
from .alexnet import AlexNet, _dropout_rule
from .init import init_paper_


class TwoTowerAlexNet(nn.Module):
    """Paper §3.2 (Figure 2): AlexNet split across two devices, one tower of kernels on each.

    Each tower holds half of every conv layer (48, 128, 192, 192, 128 kernels) on its own device,
    with its own LRN over its own maps (as the 2012 code did). The towers exchange activations only
    where the paper says the GPUs communicate:

    1. conv3 of each tower reads the conv2 maps of *both* towers (the first exchange);
    2. fc6 reads the pool5 maps of both towers.

    The fully-connected layers are split by outputs, as in Figure 2: each device computes half of
    fc6's and half of fc7's 4096 units from *all* of the previous layer's outputs, so the two
    halves of fc6 are gathered onto both devices before fc7. fc8 (1000 units, 7% of the
    parameters) runs whole on the first device, which gathers fc7 and returns the logits: our
    simplification.
    Every exchange is one `torch.Tensor.to` per part, in `on_every_device`.

    With one device, pass it twice: ``TwoTowerAlexNet(("cuda", "cuda"))``. The net computes the
    same function as ``AlexNet()``, two groups with LRN within each (`from_grouped` copies the weights
    across; a test checks outputs and gradients) and has the same 60,965,224 parameters.
    Init: the paper's (`init_paper_`); dropout: AlexNet's (``dropout``, ``dropout_rule``). Calling
    ``.to()`` on the whole model moves both towers to one device; build a new one to split it again.
    """

    def __init__(
        self,
        devices: Sequence[torch.device | str] = ("cpu", "cpu"),
        num_classes: int = 1000,
        *,
        dropout: float = 0.5,
        dropout_rule: str = "paper",
    ):
        super().__init__()
        make_dropout = _dropout_rule("TwoTowerAlexNet", dropout_rule)
        self.dropout_rule = dropout_rule
        if len(devices) != 2:
            raise AlexNetError(
                f"TwoTowerAlexNet needs two devices, got {list(devices)}; "
                "with one GPU, pass it twice."
            )
        self.devices = tuple(torch.device(d) for d in devices)

        def norm():
            return LocalResponseNorm(size=5, alpha=1e-4, beta=0.75, k=2.0)

        def drop():
            return make_dropout(dropout) if dropout > 0 else nn.Identity()

        def tower_conv1_2():  # sees only its own tower's maps
            return nn.Sequential(OrderedDict([
                ("conv1", nn.Conv2d(3, 48, kernel_size=11, stride=4, padding=2)),
                ("relu1", nn.ReLU()),
                ("lrn1", norm()),
                ("pool1", nn.MaxPool2d(kernel_size=3, stride=2)),
                ("conv2", nn.Conv2d(48, 128, kernel_size=5, padding=2)),
                ("relu2", nn.ReLU()),
                ("lrn2", norm()),
                ("pool2", nn.MaxPool2d(kernel_size=3, stride=2)),
            ]))

        def tower_conv3_5():  # conv3 reads both towers' conv2 maps, conv4 and conv5 their own
            return nn.Sequential(OrderedDict([
                ("conv3", nn.Conv2d(2 * 128, 192, kernel_size=3, padding=1)),
                ("relu3", nn.ReLU()),
                ("conv4", nn.Conv2d(192, 192, kernel_size=3, padding=1)),
                ("relu4", nn.ReLU()),
                ("conv5", nn.Conv2d(192, 128, kernel_size=3, padding=1)),
                ("relu5", nn.ReLU()),
                ("pool5", nn.MaxPool2d(kernel_size=3, stride=2)),
            ]))

        def half_fc(name: str, in_features: int):  # half of the layer's 4096 units
            return nn.Sequential(OrderedDict([
                (f"fc{name}", nn.Linear(in_features, 2048)),
                (f"relu{name}", nn.ReLU()),
                (f"drop{name}", drop()),
            ]))

        self.conv1_2 = nn.ModuleList([tower_conv1_2() for _ in self.devices])
        self.conv3_5 = nn.ModuleList([tower_conv3_5() for _ in self.devices])
        self.fc6 = nn.ModuleList([half_fc("6", 2 * 128 * 6 * 6) for _ in self.devices])
        self.fc7 = nn.ModuleList([half_fc("7", 2 * 2048) for _ in self.devices])
        self.fc8 = nn.Linear(2 * 2048, num_classes)
        init_paper_(self)
        for i, device in enumerate(self.devices):
            for part in (self.conv1_2, self.conv3_5, self.fc6, self.fc7):
                part[i].to(device)
        self.fc8.to(self.devices[0])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        towers = [convs(x.to(d)) for convs, d in zip(self.conv1_2, self.devices)]
        towers = on_every_device(towers, self.devices)  # exchange 1: conv3 sees all conv2 maps
        towers = [convs(t).flatten(1) for convs, t in zip(self.conv3_5, towers)]
        if towers[0].shape[1] != 128 * 6 * 6:
            raise AlexNetError(
                "TwoTowerAlexNet needs 6x6 maps at fc6: feed 224x224 images (the paper's crops)."
            )
        halves = [fc(t) for fc, t in zip(self.fc6, on_every_device(towers, self.devices))]
        halves = [fc(h) for fc, h in zip(self.fc7, on_every_device(halves, self.devices))]
        return self.fc8(on_every_device(halves, self.devices[:1])[0])

    @classmethod
    def from_grouped(
        cls, alexnet: AlexNet, devices: Sequence[torch.device | str] = ("cpu", "cpu")
    ) -> TwoTowerAlexNet:
        """Paper §3.2: the weights of a one-device ``AlexNet()`` (groups and LRN in two towers), split.

        Tower t gets the t-th half of the output kernels (rows) of every conv layer and of fc6 and
        fc7; fc8 is copied whole. Both nets then compute the same function.
        """
        f = alexnet.features
        if f.conv2.groups != 2 or getattr(f.lrn1, "groups", None) != 2 or f.pool1.kernel_size != 3:
            raise AlexNetError(
                "TwoTowerAlexNet.from_grouped copies the paper's two-tower net: build it with "
                "AlexNet() (its defaults: groups=2, lrn_groups=2, LRN and overlapping pools on)."
            )
        dropout = getattr(alexnet.classifier.drop6, "p", 0.0)
        towers = cls(devices, alexnet.classifier.fc8.out_features, dropout=dropout,
                     dropout_rule=alexnet.dropout_rule)
        layers = {**dict(f.named_children()), **dict(alexnet.classifier.named_children())}
        with torch.no_grad():
            for t in range(2):
                tower = {**dict(towers.conv1_2[t].named_children()),
                         **dict(towers.conv3_5[t].named_children()),
                         "fc6": towers.fc6[t].fc6, "fc7": towers.fc7[t].fc7}
                for name in ("conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7"):
                    tower[name].weight.copy_(layers[name].weight.chunk(2)[t])
                    tower[name].bias.copy_(layers[name].bias.chunk(2)[t])
            towers.fc8.load_state_dict(layers["fc8"].state_dict())
        return towers


def on_every_device(
    parts: list[torch.Tensor], devices: Sequence[torch.device]
) -> list[torch.Tensor]:
    """Paper §3.2: the GPUs communicate. Every device gets all parts, joined along the features."""
    return [torch.cat([part.to(device) for part in parts], dim=1) for device in devices]
