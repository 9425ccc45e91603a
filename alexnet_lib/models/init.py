"""Paper §5: how the nets' weights and biases start: the paper's rule, and the 2012 code's."""

from __future__ import annotations

import torch
from torch import nn


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


def init_he_(model: nn.Module) -> nn.Module:
    """He et al. (2015), not the paper's: weights ~ N(0, 2 / fan-in), biases 0 (`SmallAlexNet`, the §5 chapter).

    In place on every Conv2d and Linear of ``model``; returns the model.
    """
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
            nn.init.zeros_(module.bias)
    return model


def init_caffe_(model: nn.Module) -> nn.Module:
    """Caffe's ``bvlc_alexnet`` replica, not the paper's: N(0, 0.01), fc6 and fc7 N(0, 0.005);
    biases 0.1 where §5 has 1 (conv2, conv4, conv5, fc6, fc7). In place; returns the model."""
    init_paper_(model)
    for name, module in model.named_modules():
        layer = name.rsplit(".", 1)[-1]
        if layer in ("fc6", "fc7"):
            nn.init.normal_(module.weight, std=0.005)
        if layer in BIAS_ONE_LAYERS:
            nn.init.constant_(module.bias, 0.1)
    return model


def init_pytorch_(model: nn.Module) -> nn.Module:
    """PyTorch's own default, not the paper's: each Conv2d and Linear's ``reset_parameters`` (uniform
    weights and biases, bounded by 1 / sqrt(fan-in)). In place; returns the model."""
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            module.reset_parameters()
    return model


# Every initialisation the §5 chapter compares, by the name the trainer's --init takes: the 2012
# code's first (the run behind the paper's numbers), the paper's printed rule, then later practice.
INITIALISATIONS = {"2012-code": init_2012_code_, "paper": init_paper_, "caffe": init_caffe_,
                   "pytorch": init_pytorch_, "he": init_he_}


def signal_at_init(net: nn.Module, images: torch.Tensor,
                   layers: tuple[str, ...] = ("conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8"),
                   ) -> dict[str, tuple[float, float]]:
    """Paper §5: how much of each layer's output (before its ReLU) depends on the image, at init.

    Per layer of ``layers`` (by name): (the image-dependent part, the root mean square over units of
    the standard deviation across ``images``; the constant part, the root mean square over units of
    the mean across them). A net whose fc8 has a tiny image-dependent part beside its constant part
    answers almost the same for every image, and its loss starts at that of a uniform guess. In eval
    mode (dropout off), without gradients; ``images`` as the net takes them.
    """
    found = {name.rsplit(".", 1)[-1]: module for name, module in net.named_modules()}
    outputs: dict[str, torch.Tensor] = {}
    hooks = [found[name].register_forward_hook(lambda m, i, o, name=name: outputs.__setitem__(name, o.float().flatten(1)))
             for name in layers]
    was_training = net.training
    try:
        net.eval()
        with torch.no_grad():
            net(images)
    finally:
        net.train(was_training)
        for hook in hooks:
            hook.remove()
    return {name: (out.std(0).square().mean().sqrt().item(), out.mean(0).square().mean().sqrt().item())
            for name, out in outputs.items()}
