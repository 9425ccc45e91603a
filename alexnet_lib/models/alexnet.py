"""Paper §3.5 and §7: AlexNet, the one-GPU net of §3.2, and the net's pattern at a small size."""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Sequence

import torch
from torch import nn

from ..dropout import PaperDropout
from ..errors import AlexNetError
from ..layers import LocalResponseNorm
from .init import init_he_, init_paper_

# §4.2: the paper's rule (zero with probability p in training, multiply by 1 - p at test time) and
# PyTorch's inverted one (scale the kept units by 1 / (1 - p) in training, identity at test time).
DROPOUT_RULES = {"paper": PaperDropout, "inverted": nn.Dropout}
# §5's init, and He's for the small net of §7 (`SmallAlexNet` says why).
INITS = {"paper": init_paper_, "he": init_he_}


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

    LRN normalises within each tower, over its own 48 (conv1) or 128 (conv2) maps, as each GPU
    did (the 2012 code, and `TwoTowerAlexNet`): ``lrn_groups`` defaults to ``groups``.
    ``lrn_groups=1`` normalises across all N maps of the layer, the formula read for one device:
    a variant, not the net the paper trained. ``widths`` are the numbers of kernels in
    conv1..conv5 (§3.2's one-GPU net halves them: `OneGPUAlexNet`).

    The knobs by which §7's small net differs (`SmallAlexNet`): ``in_channels``, ``conv1``
    (kernel, stride, padding; the paper's 11, 4, 2), ``image_size`` (the side of the input, which
    sets fc6's input: 224 -> 6x6 maps), ``hidden`` (fc6 and fc7's units, the paper's 4096) and
    ``init`` ("paper": §5's `init_paper_`; "he": He's normal init with biases 0).

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
        lrn_groups: int | None = None,
        overlap: bool = True,
        dropout: float = 0.5,
        dropout_rule: str = "paper",
        widths: Sequence[int] = (96, 256, 384, 384, 256),
        remove_conv: str | None = None,
        in_channels: int = 3,
        conv1: tuple[int, int, int] = (11, 4, 2),
        image_size: int = 224,
        hidden: int = 4096,
        init: str = "paper",
    ):
        super().__init__()
        c1, c2, c3, c4, c5 = widths
        lrn_groups = groups if lrn_groups is None else lrn_groups
        inputs = _conv_inputs(type(self).__name__, in_channels, widths, remove_conv)  # maps each conv reads
        make_dropout = _dropout_rule(type(self).__name__, dropout_rule)
        self.dropout_rule = dropout_rule
        for name, knob in (("groups", groups), ("lrn_groups", lrn_groups)):
            if knob < 1 or math.gcd(*widths) % knob:
                raise AlexNetError(
                    f"{type(self).__name__} {name}={knob}: every conv width {tuple(widths)} must "
                    f"split evenly into {knob} towers; the paper's two GPUs: 2."
                )
        if init not in INITS:
            raise AlexNetError(f"{type(self).__name__} init={init!r}: choose one of {', '.join(INITS)}.")
        kernel, stride, padding = conv1
        pool_size = 3 if overlap else 2

        def norm():
            if not lrn:
                return nn.Identity()
            return LocalResponseNorm(size=5, alpha=1e-4, beta=0.75, k=2.0, groups=lrn_groups)

        def pool():
            return nn.MaxPool2d(kernel_size=pool_size, stride=2)

        def drop():
            return make_dropout(dropout) if dropout > 0 else nn.Identity()

        layers = OrderedDict([
            ("conv1", nn.Conv2d(in_channels, c1, kernel_size=kernel, stride=stride, padding=padding)),
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
        size = (image_size + 2 * padding - kernel) // stride + 1  # conv1; conv2-5 keep the size
        for _ in range(3):  # the three pools, rounding down
            size = (size - pool_size) // 2 + 1
        self.image_size, self.fc6_maps = image_size, size
        self.classifier = nn.Sequential(OrderedDict([
            ("fc6", nn.Linear(c5 * size * size, hidden)),
            ("relu6", nn.ReLU()),
            ("drop6", drop()),
            ("fc7", nn.Linear(hidden, hidden)),
            ("relu7", nn.ReLU()),
            ("drop7", drop()),
            ("fc8", nn.Linear(hidden, num_classes)),
        ]))
        INITS[init](self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        if x.shape[-2:] != (self.fc6_maps, self.fc6_maps):
            raise AlexNetError(
                f"{type(self).__name__} needs {self.fc6_maps}x{self.fc6_maps} maps at fc6 but got "
                f"{tuple(x.shape[-2:])}: feed {self.image_size}x{self.image_size} images"
                + (" (the paper's crops)." if self.image_size == 224 else ".")
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


class SmallAlexNet(AlexNet):
    """Paper §7: AlexNet's layer pattern at the size of Fashion-MNIST and CIFAR-10, for the depth ablation.

    `AlexNet` with other sizes: five conv layers, each followed by a ReLU (conv2, conv4 and conv5 in
    ``groups`` towers, conv3 reading all maps), LRN after relu1 and relu2 (within each tower, as in
    the paper net), overlapping 3/2 max pools after conv1, conv2 and conv5, then fc6 and fc7 with
    the paper's dropout, and fc8.
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
        super().__init__(num_classes, groups=groups, dropout=dropout, widths=widths,
                         remove_conv=remove_conv, in_channels=in_channels, conv1=(5, 1, 2),
                         image_size=image_size, hidden=hidden, init="he")


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
