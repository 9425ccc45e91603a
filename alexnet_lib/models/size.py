"""Paper §1 and §3.5: a net's size in numbers: parameters, and per layer its output, neurons and
multiply-adds."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


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
