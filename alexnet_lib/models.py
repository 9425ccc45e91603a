"""Paper §3.5 and §5: the AlexNet architecture, its initialisation, and its size in numbers."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import torch
from torch import nn

from .errors import AlexNetError
from .layers import LocalResponseNorm


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

    LRN here normalises across all N maps of the layer, as the formula is written; the 2012 code
    normalised within each tower's 48 (conv1) or 128 (conv2) maps.

    Dropout is PyTorch's: during training the kept units are scaled by 1 / (1 - p), so at test
    time all units are used unscaled. That is the same function as the paper's halving of the
    outputs at test time (§4.2), with the scaling moved to training.

    The ReLUs are not in place, so a forward hook on a conv or fc layer keeps its output as it was
    before the ReLU.
    """

    def __init__(
        self,
        num_classes: int = 1000,
        *,
        groups: int = 2,
        lrn: bool = True,
        overlap: bool = True,
        dropout: float = 0.5,
    ):
        super().__init__()
        if groups < 1 or 32 % groups:  # 32 = gcd of the conv widths 96, 256 and 384
            raise AlexNetError(
                f"AlexNet groups={groups}: every conv width (96, 256, 384) must split evenly; "
                "use 1, 2, 4, 8, 16 or 32 (the paper's two GPUs: 2)."
            )

        def norm():
            return LocalResponseNorm(size=5, alpha=1e-4, beta=0.75, k=2.0) if lrn else nn.Identity()

        def pool():
            return nn.MaxPool2d(kernel_size=3, stride=2) if overlap else nn.MaxPool2d(2, stride=2)

        def drop():
            return nn.Dropout(dropout) if dropout > 0 else nn.Identity()

        self.features = nn.Sequential(OrderedDict([
            ("conv1", nn.Conv2d(3, 96, kernel_size=11, stride=4, padding=2)),
            ("relu1", nn.ReLU()),
            ("lrn1", norm()),
            ("pool1", pool()),
            ("conv2", nn.Conv2d(96, 256, kernel_size=5, padding=2, groups=groups)),
            ("relu2", nn.ReLU()),
            ("lrn2", norm()),
            ("pool2", pool()),
            ("conv3", nn.Conv2d(256, 384, kernel_size=3, padding=1)),
            ("relu3", nn.ReLU()),
            ("conv4", nn.Conv2d(384, 384, kernel_size=3, padding=1, groups=groups)),
            ("relu4", nn.ReLU()),
            ("conv5", nn.Conv2d(384, 256, kernel_size=3, padding=1, groups=groups)),
            ("relu5", nn.ReLU()),
            ("pool5", pool()),
        ]))
        self.classifier = nn.Sequential(OrderedDict([
            ("fc6", nn.Linear(256 * 6 * 6, 4096)),
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
