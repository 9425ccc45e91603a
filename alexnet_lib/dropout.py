"""Paper §4.2: dropout as the paper states it, and how it relates to PyTorch's inverted dropout."""

from __future__ import annotations

import torch
from torch import nn

from .errors import AlexNetError


class PaperDropout(nn.Module):
    """Paper §4.2: zero each output with probability p in training; multiply by 1 - p at test time.

    Training: every output is kept unchanged with probability 1 - p and set to zero otherwise, a
    fresh mask per forward pass (and per example). Test (``eval()``): all outputs, multiplied by
    1 - p ("multiply their outputs by 0.5"). The authors' 2012 code did the same (cuda-convnet's
    ``hs`` layer, ``HiddenSexLayer::fpropActs`` in ``src/layer.cu``, with ``keep=0.5``).

    PyTorch's `nn.Dropout` is *inverted* dropout: in training it scales the kept outputs by
    1 / (1 - p), at test time it is the identity. Both rules make the expected training output
    equal the test output (here E[mask * x] = (1 - p) x; there E[mask * x / (1 - p)] = x), and for
    the same mask the two training outputs differ by the constant factor 1 / (1 - p). Exactly:

        PaperDropout(p) followed by a linear layer with weights W and bias b computes, in training
        (same mask) and at test time alike, the same function as nn.Dropout(p) followed by the
        linear layer with weights (1 - p) W and the same bias b.

    So a net with paper dropout whose next layer holds W is the inverted-dropout net whose next
    layer holds (1 - p) W (half of W at p = 0.5). Same function, not the same training run: the
    gradient with respect to (1 - p) W is the gradient with respect to W divided by 1 - p, so a
    step of size eps on the inverted net moves the equivalent W by eps / (1 - p)^2 (4 eps at
    p = 0.5), and an N(0, 0.01) init of the inverted net's layer is an N(0, 0.01 / (1 - p)) init
    of W. `tests/test_dropout.py` checks the outputs and the gradients.

    On the CPU (and for p > 0) the mask is drawn exactly as `nn.Dropout` draws it, one
    ``bernoulli_(1 - p)`` over a tensor shaped like the input: under the same seed both drop the
    same units.
    """

    def __init__(self, p: float = 0.5):
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise AlexNetError(
                f"PaperDropout p={p}: use a probability in [0, 1), the chance that a unit is "
                "dropped (the paper's is 0.5; 1 would drop every unit)."
            )
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return x * (1.0 - self.p)
        mask = torch.empty_like(x).bernoulli_(1.0 - self.p)  # 1 = kept, with probability 1 - p
        return x * mask

    def extra_repr(self) -> str:
        return f"p={self.p}"
