"""Paper §3 and §5: AlexNet, its §3 variants, their initialisation, and their size in numbers."""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from .dropout import PaperDropout
from .errors import AlexNetError
from .layers import LocalResponseNorm

# §4.2: the paper's rule (zero with probability p in training, multiply by 1 - p at test time) and
# PyTorch's inverted one (scale the kept units by 1 / (1 - p) in training, identity at test time).
DROPOUT_RULES = {"paper": PaperDropout, "inverted": nn.Dropout}


class AlexNet(nn.Module):
    """Paper §3.5 (Figure 2): five conv layers, three fully-connected layers, logits out.

    ``groups=2`` splits conv2, conv4 and conv5 into two towers that see only their own half of the
    previous layer's maps (§3.2: each GPU held half the kernels); conv3 always takes all 256 conv2
    maps, where the two GPUs communicated. ``groups=1``: one tower with the same widths.
    ``lrn=False`` removes the §3.3 normalisation, ``overlap=False`` pools 2x2 with stride 2 instead
    of the §3.4 overlapping 3x3 with stride 2, ``dropout=0`` removes §4.2 dropout.

    The 224 vs 227 puzzle: an 11x11 kernel with stride 4 and no padding maps a 224 input to
    1 + floor((224 - 11) / 4) = 54, not the paper's 55. The authors' cuda-convnet rounded up,
    1 + ceil((224 - 11) / 4) = 55; Caffe's replica fed 227 pixels, 1 + (227 - 11) / 4 = 55. Here
    conv1 pads by 2, so a 224 input gives 1 + floor((224 + 4 - 11) / 4) = 55 with PyTorch's floor.
    The maps then go 55 -> pool 27 -> 13 -> pool 6, and fc6 sees 6 x 6 x 256 = 9216 values.
    Non-overlapping 2x2/2 pools give the same 27, 13 and 6 from 224, so ``overlap=False`` needs no
    other change.

    LRN normalises across all N maps of the layer, as the formula is written (``lrn_groups=1``);
    the 2012 code normalised within each tower's 48 (conv1) or 128 (conv2) maps: ``lrn_groups=2``.
    ``widths`` are the numbers of kernels in conv1..conv5 (§3.2's one-GPU net halves them:
    `OneGPUAlexNet`).

    ``remove_conv="conv2"``, ``"conv3"`` or ``"conv4"`` builds §7's ablation, the net without
    that middle conv layer (and its ReLU and LRN; the pools stay, so fc6 still sees 6x6 maps): the
    next conv layer reads the maps of the one before the removed layer. Without conv3 the towers
    never meet before fc6. The parameters lost (60,965,224 in all): conv2 860,416, conv3 1,106,304
    (conv4 then reads 128 maps per tower, not 192), conv4 663,936.

    Dropout (after relu6 and relu7) follows the paper's rule by default, ``dropout_rule="paper"``
    (`PaperDropout`): in training each unit is zeroed with probability ``dropout``, at test time
    (``eval()``) every unit is multiplied by 1 - ``dropout``. ``dropout_rule="inverted"`` is the
    modern alternative, PyTorch's `nn.Dropout`: the kept units are scaled by 1 / (1 - p) in
    training and used unscaled at test time. The inverted net whose fc7 and fc8 weights are
    multiplied by 1 - p computes the same function as the paper's net, but it does not train the
    same way (the `PaperDropout` docstring says why).

    The ReLUs are not in place, so a forward hook on a conv or fc layer keeps its output as it was
    before the ReLU.
    """

    def __init__(
        self,
        num_classes: int = 1000,
        *,
        groups: int = 2,
        lrn: bool = True,
        lrn_groups: int = 1,
        overlap: bool = True,
        dropout: float = 0.5,
        dropout_rule: str = "paper",
        widths: Sequence[int] = (96, 256, 384, 384, 256),
        remove_conv: str | None = None,
    ):
        super().__init__()
        c1, c2, c3, c4, c5 = widths
        inputs = _conv_inputs("AlexNet", 3, widths, remove_conv)  # maps each conv layer reads
        make_dropout = _dropout_rule("AlexNet", dropout_rule)
        self.dropout_rule = dropout_rule
        for name, knob in (("groups", groups), ("lrn_groups", lrn_groups)):
            if knob < 1 or math.gcd(*widths) % knob:
                raise AlexNetError(
                    f"AlexNet {name}={knob}: every conv width {tuple(widths)} must split evenly "
                    f"into {knob} towers; the paper's two GPUs: 2."
                )

        def norm():
            if not lrn:
                return nn.Identity()
            return LocalResponseNorm(size=5, alpha=1e-4, beta=0.75, k=2.0, groups=lrn_groups)

        def pool():
            return nn.MaxPool2d(kernel_size=3, stride=2) if overlap else nn.MaxPool2d(2, stride=2)

        def drop():
            return make_dropout(dropout) if dropout > 0 else nn.Identity()

        layers = OrderedDict([
            ("conv1", nn.Conv2d(3, c1, kernel_size=11, stride=4, padding=2)),
            ("relu1", nn.ReLU()),
            ("lrn1", norm()),
            ("pool1", pool()),
            ("conv2", nn.Conv2d(inputs["conv2"], c2, kernel_size=5, padding=2, groups=groups)),
            ("relu2", nn.ReLU()),
            ("lrn2", norm()),
            ("pool2", pool()),
            ("conv3", nn.Conv2d(inputs["conv3"], c3, kernel_size=3, padding=1)),
            ("relu3", nn.ReLU()),
            ("conv4", nn.Conv2d(inputs["conv4"], c4, kernel_size=3, padding=1, groups=groups)),
            ("relu4", nn.ReLU()),
            ("conv5", nn.Conv2d(inputs["conv5"], c5, kernel_size=3, padding=1, groups=groups)),
            ("relu5", nn.ReLU()),
            ("pool5", pool()),
        ])
        self.features = _without(layers, remove_conv)
        self.classifier = nn.Sequential(OrderedDict([
            ("fc6", nn.Linear(c5 * 6 * 6, 4096)),
            ("relu6", nn.ReLU()),
            ("drop6", drop()),
            ("fc7", nn.Linear(4096, 4096)),
            ("relu7", nn.ReLU()),
            ("drop7", drop()),
            ("fc8", nn.Linear(4096, num_classes)),
        ]))
        init_paper_(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        if x.shape[-2:] != (6, 6):
            raise AlexNetError(
                f"AlexNet needs 6x6 maps at fc6 but got {tuple(x.shape[-2:])}: "
                "feed 224x224 images (the paper's crops)."
            )
        return self.classifier(torch.flatten(x, 1))


class OneGPUAlexNet(AlexNet):
    """Paper §3.2 (footnote 1): the one-GPU net, 1.7% / 1.2% worse in top-1 / top-5 than AlexNet.

    Half as many kernels in conv1..conv4 (48, 128, 192, 192), one tower (no groups), but the full
    256 kernels in conv5 and the same fully-connected layers: most parameters are in fc6, which
    reads conv5, so keeping conv5 whole keeps the two nets at about the same size (59,798,312
    parameters here against 60,965,224). The other knobs are AlexNet's.
    """

    def __init__(
        self,
        num_classes: int = 1000,
        *,
        lrn: bool = True,
        overlap: bool = True,
        dropout: float = 0.5,
        dropout_rule: str = "paper",
    ):
        super().__init__(
            num_classes, groups=1, lrn=lrn, overlap=overlap, dropout=dropout,
            dropout_rule=dropout_rule, widths=(48, 128, 192, 192, 256),
        )


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
    Every exchange is one `torch.Tensor.to` per part, in `_on_every_device`.

    With one device, pass it twice: ``TwoTowerAlexNet(("cuda", "cuda"))``. The net computes the
    same function as ``AlexNet(groups=2, lrn_groups=2)`` (`from_grouped` copies the weights
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
        towers = _on_every_device(towers, self.devices)  # exchange 1: conv3 sees all conv2 maps
        towers = [convs(t).flatten(1) for convs, t in zip(self.conv3_5, towers)]
        if towers[0].shape[1] != 128 * 6 * 6:
            raise AlexNetError(
                "TwoTowerAlexNet needs 6x6 maps at fc6: feed 224x224 images (the paper's crops)."
            )
        halves = [fc(t) for fc, t in zip(self.fc6, _on_every_device(towers, self.devices))]
        halves = [fc(h) for fc, h in zip(self.fc7, _on_every_device(halves, self.devices))]
        return self.fc8(_on_every_device(halves, self.devices[:1])[0])

    @classmethod
    def from_grouped(
        cls, alexnet: AlexNet, devices: Sequence[torch.device | str] = ("cpu", "cpu")
    ) -> TwoTowerAlexNet:
        """Paper §3.2: the weights of a one-device ``AlexNet(groups=2, lrn_groups=2)``, split.

        Tower t gets the t-th half of the output kernels (rows) of every conv layer and of fc6 and
        fc7; fc8 is copied whole. Both nets then compute the same function.
        """
        f = alexnet.features
        if f.conv2.groups != 2 or getattr(f.lrn1, "groups", None) != 2 or f.pool1.kernel_size != 3:
            raise AlexNetError(
                "TwoTowerAlexNet.from_grouped copies the paper's two-tower net: build it with "
                "AlexNet(groups=2, lrn_groups=2) (LRN and overlapping pools on, default widths)."
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


def _conv_inputs(model: str, in_channels: int, widths: Sequence[int], remove_conv: str | None) -> dict[str, int]:
    """Paper §7: how many maps each conv layer reads, when ``remove_conv`` (a middle conv layer) is gone.

    The layer after the removed one reads what the removed one read.
    """
    if remove_conv not in (None, "conv2", "conv3", "conv4"):
        raise AlexNetError(
            f"{model} remove_conv={remove_conv!r}: §7 removes a middle conv layer, "
            "'conv2', 'conv3' or 'conv4' (or None for the whole net)."
        )
    c1, c2, c3, c4, _ = widths
    inputs = {"conv1": in_channels, "conv2": c1, "conv3": c2, "conv4": c3, "conv5": c4}
    if remove_conv:
        inputs[f"conv{int(remove_conv[-1]) + 1}"] = inputs[remove_conv]
    return inputs


def _without(layers: OrderedDict, remove_conv: str | None) -> nn.Sequential:
    """Paper §7: the feature layers as a `nn.Sequential`, without ``remove_conv`` and its ReLU and LRN."""
    if remove_conv:
        n = remove_conv[-1]
        for name in (f"conv{n}", f"relu{n}", f"lrn{n}"):
            layers.pop(name, None)
    return nn.Sequential(layers)


def _dropout_rule(model: str, rule: str) -> type[nn.Module]:
    """Paper §4.2: the dropout layer of ``rule``, or an error that names the valid rules."""
    if rule not in DROPOUT_RULES:
        raise AlexNetError(
            f"{model} dropout_rule={rule!r}: choose 'paper' (§4.2: halve the outputs at test "
            "time, the default) or 'inverted' (PyTorch's nn.Dropout: scale by 1 / (1 - p) in "
            "training instead)."
        )
    return DROPOUT_RULES[rule]


def _on_every_device(
    parts: list[torch.Tensor], devices: Sequence[torch.device]
) -> list[torch.Tensor]:
    """Paper §3.2: the GPUs communicate. Every device gets all parts, joined along the features."""
    return [torch.cat([part.to(device) for part in parts], dim=1) for device in devices]


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


class SmallAlexNet(nn.Module):
    """Paper §7: AlexNet's layer pattern at the size of Fashion-MNIST and CIFAR-10, for the depth ablation.

    The sequence of `AlexNet`: five conv layers, each followed by a ReLU (conv2, conv4 and conv5 in
    ``groups`` towers, conv3 reading all maps), LRN after relu1 and relu2, overlapping 3/2 max
    pools after conv1, conv2 and conv5, then fc6 and fc7 with the paper's dropout, and fc8.
    Scaled down so that a CPU trains it in seconds: conv1 is 5x5 with stride 1 and padding 2
    (AlexNet: 11x11 with stride 4 on 224 pixels), conv2 5x5, conv3-5 3x3; the widths are a
    quarter of AlexNet's, (24, 64, 96, 96, 64), and the hidden layers 256 wide (AlexNet: 4096).
    The maps go 28 -> pool 13 -> pool 6 -> pool 2 on 28x28 images, 32 -> 15 -> 7 -> 3 on 32x32.

    ``remove_conv`` ("conv2", "conv3" or "conv4") removes a middle conv layer as in `AlexNet`.
    Init: He's (normal, std sqrt(2 / fan-in), biases 0), not §5's N(0, 0.01): at these small
    fan-ins (25 for conv1) std 0.01 shrinks the signal at every layer and leaves the net at chance
    for many epochs.
    """

    def __init__(
        self,
        num_classes: int = 10,
        in_channels: int = 1,
        image_size: int = 28,
        *,
        groups: int = 2,
        dropout: float = 0.5,
        widths: Sequence[int] = (24, 64, 96, 96, 64),
        hidden: int = 256,
        remove_conv: str | None = None,
    ):
        super().__init__()
        c1, c2, c3, c4, c5 = widths
        inputs = _conv_inputs("SmallAlexNet", in_channels, widths, remove_conv)

        def norm():
            return LocalResponseNorm(size=5, alpha=1e-4, beta=0.75, k=2.0)

        layers = OrderedDict([
            ("conv1", nn.Conv2d(inputs["conv1"], c1, kernel_size=5, padding=2)),
            ("relu1", nn.ReLU()),
            ("lrn1", norm()),
            ("pool1", nn.MaxPool2d(kernel_size=3, stride=2)),
            ("conv2", nn.Conv2d(inputs["conv2"], c2, kernel_size=5, padding=2, groups=groups)),
            ("relu2", nn.ReLU()),
            ("lrn2", norm()),
            ("pool2", nn.MaxPool2d(kernel_size=3, stride=2)),
            ("conv3", nn.Conv2d(inputs["conv3"], c3, kernel_size=3, padding=1)),
            ("relu3", nn.ReLU()),
            ("conv4", nn.Conv2d(inputs["conv4"], c4, kernel_size=3, padding=1, groups=groups)),
            ("relu4", nn.ReLU()),
            ("conv5", nn.Conv2d(inputs["conv5"], c5, kernel_size=3, padding=1, groups=groups)),
            ("relu5", nn.ReLU()),
            ("pool5", nn.MaxPool2d(kernel_size=3, stride=2)),
        ])
        self.features = _without(layers, remove_conv)
        size = image_size
        for _ in range(3):  # the three 3/2 pools, rounding down
            size = (size - 3) // 2 + 1
        self.classifier = nn.Sequential(OrderedDict([
            ("fc6", nn.Linear(c5 * size * size, hidden)),
            ("relu6", nn.ReLU()),
            ("drop6", PaperDropout(dropout)),
            ("fc7", nn.Linear(hidden, hidden)),
            ("relu7", nn.ReLU()),
            ("drop7", PaperDropout(dropout)),
            ("fc8", nn.Linear(hidden, num_classes)),
        ]))
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.features(x), 1))


# §5: conv2, conv4, conv5 and the two hidden fully-connected layers start with bias 1, which
# gives their ReLUs positive inputs early in training; every other bias starts at 0.
BIAS_ONE_LAYERS = frozenset({"conv2", "conv4", "conv5", "fc6", "fc7"})


def init_paper_(model: nn.Module) -> nn.Module:
    """Paper §5: weights ~ N(0, 0.01); biases 1 in conv2, conv4, conv5, fc6, fc7; 0 elsewhere.

    Works in place on every Conv2d and Linear of ``model``, choosing the bias by the layer's name
    (its last dotted part), and returns the model.
    """
    for name, module in model.named_modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            nn.init.normal_(module.weight, mean=0.0, std=0.01)
            if module.bias is not None:
                bias = 1.0 if name.rsplit(".", 1)[-1] in BIAS_ONE_LAYERS else 0.0
                nn.init.constant_(module.bias, bias)
    return model


# The 2012 code's reading of §5: cuda-convnet's layers/layers-145.cfg (the run behind the paper's
# single-net numbers) sets initW=0.03 for conv3, conv4 and conv5, and 0.01 everywhere else.
CODE_2012_STD = {"conv3": 0.03, "conv4": 0.03, "conv5": 0.03}


def init_2012_code_(model: nn.Module) -> nn.Module:
    """Paper §5, as the 2012 code ran it: `init_paper_`, then conv3-5 weights ~ N(0, 0.03).

    The paper says N(0, 0.01) for every layer; the configuration of the run behind its numbers
    drew conv3, conv4 and conv5 from N(0, 0.03) (`CODE_2012_STD`), with the paper's biases. Three
    times larger weights in three layers in a row make the part of conv5's output that depends on
    the image up to 3³ = 27 times larger at the start. In place, layers chosen by name as in
    `init_paper_`; returns the model.
    """
    init_paper_(model)
    for name, module in model.named_modules():
        std = CODE_2012_STD.get(name.rsplit(".", 1)[-1])
        if std is not None and isinstance(module, nn.Conv2d):
            nn.init.normal_(module.weight, mean=0.0, std=std)
    return model


def count_parameters(model: nn.Module) -> int:
    """Paper §1 ("60 million parameters"): the number of learnable values in ``model``."""
    return sum(p.numel() for p in model.parameters())


@dataclass(frozen=True)
class LayerRow:
    """Paper §1 and §3.5: one layer's output shape, parameters, neurons and multiply-adds."""

    name: str
    output_shape: tuple[int, ...]  # (C, H, W) for conv and pool, (features,) for linear
    params: int
    neurons: int  # output elements of a conv or linear layer; 0 for pooling
    mult_adds: int  # per image: output elements x inputs that each one sums


def layer_table(model: nn.Module, input_size: int = 224) -> list[LayerRow]:
    """Paper §1 and §3.5: per-layer sizes of ``model`` measured on one dummy image.

    One forward pass of a 1 x 3 x S x S zero image, in eval mode, with hooks on every Conv2d,
    Linear and MaxPool2d, records what each layer really produces. A conv output element sums
    in_channels / groups x kh x kw products, a linear one in_features products; pools add rows
    with zero parameters, neurons and multiply-adds so the table shows the spatial sizes.
    """
    rows: list[LayerRow] = []

    def record(name: str):
        def hook(module: nn.Module, inputs, output: torch.Tensor) -> None:
            params = sum(p.numel() for p in module.parameters(recurse=False))
            elements = output[0].numel()
            if isinstance(module, nn.Conv2d):
                kh, kw = module.kernel_size
                fan_in = module.in_channels // module.groups * kh * kw
            elif isinstance(module, nn.Linear):
                fan_in = module.in_features
            else:  # pooling: no learned weights, no neurons
                elements, fan_in = 0, 0
            shape = tuple(output.shape[1:])
            rows.append(LayerRow(name, shape, params, elements, elements * fan_in))

        return hook

    handles = [
        module.register_forward_hook(record(name.rsplit(".", 1)[-1]))
        for name, module in model.named_modules()
        if isinstance(module, (nn.Conv2d, nn.Linear, nn.MaxPool2d))
    ]
    was_training = model.training
    try:
        model.eval()
        device = next(model.parameters()).device
        with torch.no_grad():
            model(torch.zeros(1, 3, input_size, input_size, device=device))
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    return rows


def format_layer_table(rows: list[LayerRow]) -> str:
    """Paper §1 and §3.5: ``layer_table`` rows as an aligned text table with a totals line."""
    header = ("layer", "output", "params", "neurons", "mult-adds")
    lines = [
        (row.name, "x".join(map(str, row.output_shape)),
         f"{row.params:,}", f"{row.neurons:,}", f"{row.mult_adds:,}")
        for row in rows
    ]
    totals = ("total", "",
              f"{sum(r.params for r in rows):,}",
              f"{sum(r.neurons for r in rows):,}",
              f"{sum(r.mult_adds for r in rows):,}")
    table = [header, *lines, totals]
    widths = [max(len(line[col]) for line in table) for col in range(len(header))]

    def fmt(line: tuple[str, ...]) -> str:
        left = [cell.ljust(w) for cell, w in zip(line[:2], widths[:2])]
        right = [cell.rjust(w) for cell, w in zip(line[2:], widths[2:])]
        return "  ".join(left + right)

    rule = "-" * len(fmt(header))
    return "\n".join([fmt(header), rule, *map(fmt, lines), rule, fmt(totals)])
