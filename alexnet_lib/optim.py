"""Paper §5: the paper's SGD update rule and its learning-rate schedules (divide by 10, thrice)."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence

import torch

from .errors import AlexNetError

# The 2012 run behind the paper's single-net numbers (cuda-convnet, layers/layer-params-145.cfg,
# final log 40.66% / 18.21% top-1 / top-5 val error): "epoch 25: set epsw to 0.001 from 0.01",
# "epoch 51: set epsw to 0.0001 from 0.001", "epoch 79: set epsw to 0.00001 from 0.0001",
# "epoch 91: killed". Three drops by hand, as §5 says; the schedule `StepDrops` replays them.
PAPER_2012_DROP_EPOCHS = (25, 51, 79)


class PaperSGD(torch.optim.Optimizer):
    """Paper §5: v <- 0.9 v - 0.0005 eps w - eps dL/dw;  w <- w + v.

    The learning rate eps sits *inside* the velocity v, and the weight decay is multiplied by it;
    dL/dw is the gradient of the batch's mean loss. ``lr`` (eps, 0.01), ``momentum`` (0.9) and
    ``weight_decay`` (0.0005) default to the paper's values. The velocity starts at zero and is
    kept per parameter in ``state[p]["velocity"]``, so `state_dict` / `load_state_dict` resume a
    run exactly. The 2012 code did the same (``Weights::update`` in cuda-convnet's
    ``src/weights.cu``). Param groups may set their own values: that code gave the biases no
    weight decay and a rate of 0.02 that its hand drops left alone (``layer-params-145.cfg``),
    which the paper does not mention.

    `torch.optim.SGD` with ``momentum`` and ``weight_decay`` puts eps outside the velocity b::

        b <- mu b + (dL/dw + lambda w);  w <- w - eps b

    While eps is constant the two are the same rule, with b = -v / eps. They part when eps
    changes: after eps -> eps', PyTorch's next step carries mu * (eps' / eps) * v, the old
    velocity shrunk at once by the new rate, while the paper's carries mu * v, the old steps at
    the old rate, fading by mu per step. Right after a division by 10 the paper's step is larger
    than PyTorch's by mu * (1 - 1/10) * v.
    """

    def __init__(
        self,
        params: Iterable[torch.Tensor] | Iterable[dict],
        lr: float = 0.01,
        momentum: float = 0.9,
        weight_decay: float = 0.0005,
    ):
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay))

    def add_param_group(self, param_group: dict) -> None:
        _check_hyperparameters(**{**self.defaults, **param_group})
        super().add_param_group(param_group)

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            eps, mu, decay = group["lr"], group["momentum"], group["weight_decay"]
            w = [p for p in group["params"] if p.grad is not None]
            if not w:
                continue
            for p in w:
                if "velocity" not in self.state[p]:
                    self.state[p]["velocity"] = torch.zeros_like(p)  # v starts at zero
            v = [self.state[p]["velocity"] for p in w]
            # v <- mu v - decay eps w - eps dL/dw;  w <- w + v: each line one operation on all of
            # the group's tensors at once (on CUDA one multi-tensor kernel, not one per tensor)
            torch._foreach_mul_(v, mu)
            torch._foreach_add_(v, w, alpha=-decay * eps)
            torch._foreach_add_(v, [p.grad for p in w], alpha=-eps)
            torch._foreach_add_(w, v)
        return loss


def _check_hyperparameters(*, lr: float, momentum: float, weight_decay: float, **_) -> None:
    if lr < 0:
        raise AlexNetError(f"PaperSGD lr={lr}: use a learning rate >= 0 (paper: 0.01).")
    if not 0 <= momentum < 1:
        raise AlexNetError(f"PaperSGD momentum={momentum}: use a value in [0, 1) (paper: 0.9).")
    if weight_decay < 0:
        raise AlexNetError(
            f"PaperSGD weight_decay={weight_decay}: use a value >= 0 (paper: 0.0005)."
        )


class _LrDivider:
    """Divides every param group's learning rate by ``factor``; its progress resumes from a dict."""

    _state: tuple[str, ...] = ("epoch", "drop_epochs")

    def __init__(self, optimizer: torch.optim.Optimizer, factor: float):
        if not factor > 1:
            raise AlexNetError(
                f"{type(self).__name__} factor={factor}: use a divisor > 1 (paper: 10)."
            )
        self.optimizer, self.factor = optimizer, factor
        self.epoch = 0  # step() calls so far: completed epochs
        self.drop_epochs: list[int] = []  # the epochs after which the rate was divided

    @property
    def drops(self) -> int:
        """How many times the learning rate has been divided."""
        return len(self.drop_epochs)

    def _divide(self) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] /= self.factor
        self.drop_epochs.append(self.epoch)

    def state_dict(self) -> dict:
        """The schedule's progress (the rates themselves are in the optimizer's state_dict)."""
        return {name: copy.deepcopy(getattr(self, name)) for name in self._state}

    def load_state_dict(self, state: dict) -> None:
        missing = [name for name in self._state if name not in state]
        if missing:
            raise AlexNetError(
                f"{type(self).__name__}.load_state_dict: the saved state lacks {missing}; "
                "was it saved by another schedule?"
            )
        for name in self._state:
            setattr(self, name, copy.deepcopy(state[name]))


class DivideOnPlateau(_LrDivider):
    """Paper §5: divide the learning rate by 10 when the validation error stops improving.

    "The heuristic which we followed was to divide the learning rate by 10 when the validation
    error rate stopped improving with the current learning rate. [...] reduced three times prior
    to termination." Call `step` once per epoch with that epoch's validation error (a fraction
    in [0, 1]); it returns True when it divided the rate of every param group of ``optimizer``
    (any `torch.optim.Optimizer`).

    An epoch *improves* when its error is below the best error seen at the current rate by more
    than ``threshold``. After ``patience`` epochs in a row that do not improve, the rate is
    divided by ``factor`` and the best error is forgotten: improvement is judged afresh at the
    new rate. At most ``max_drops`` divisions; later plateaus change nothing.

    The paper gives neither a patience nor a threshold. Ours: ``patience=3`` epochs and
    ``threshold=0.001`` (0.1 percentage point: 50 of ILSVRC-2012's 50,000 validation images).
    The 2012 run dropped the rate by hand after epochs 25, 51 and 79 (`StepDrops`).
    """

    _state = ("epoch", "best", "bad_epochs", "drop_epochs")

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        *,
        factor: float = 10.0,
        patience: int = 3,
        threshold: float = 0.001,
        max_drops: int = 3,
    ):
        super().__init__(optimizer, factor)
        if patience < 1:
            raise AlexNetError(f"DivideOnPlateau patience={patience}: use 1 epoch or more.")
        if threshold < 0:
            raise AlexNetError(f"DivideOnPlateau threshold={threshold}: use a value >= 0.")
        if max_drops < 0:
            raise AlexNetError(f"DivideOnPlateau max_drops={max_drops}: use 0 or more (paper: 3).")
        self.patience, self.threshold, self.max_drops = patience, threshold, max_drops
        self.best: float | None = None  # the best validation error at the current rate
        self.bad_epochs = 0  # epochs in a row without improvement at the current rate

    def step(self, val_error: float) -> bool:
        """Record one epoch's validation error; True if the learning rate was divided."""
        self.epoch += 1
        if self.best is None or val_error < self.best - self.threshold:
            self.best, self.bad_epochs = val_error, 0
            return False
        self.bad_epochs += 1
        if self.bad_epochs < self.patience or self.drops >= self.max_drops:
            return False
        self._divide()
        self.best, self.bad_epochs = None, 0
        return True


class StepDrops(_LrDivider):
    """Paper §5, as the 2012 code ran it: divide the learning rate by 10 after fixed epochs.

    The defaults replay the hand drops of the run behind the paper's numbers, after epochs 25, 51
    and 79 (`PAPER_2012_DROP_EPOCHS`): 0.01 for epochs 1-25, 0.001 for 26-51, 0.0001 for 52-79,
    0.00001 from 80 on (epochs counted from 1). Call `step` once at the end of every epoch; it
    returns True when it divided the rate of every param group. ``val_error`` is accepted and
    ignored, so a training loop can drive this schedule and `DivideOnPlateau` the same way.
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        milestones: Sequence[int] = PAPER_2012_DROP_EPOCHS,
        *,
        factor: float = 10.0,
    ):
        super().__init__(optimizer, factor)
        milestones = tuple(milestones)
        if any(m < 1 for m in milestones) or list(milestones) != sorted(set(milestones)):
            raise AlexNetError(
                f"StepDrops milestones={milestones}: use increasing epoch numbers >= 1, "
                f"e.g. the 2012 code's {PAPER_2012_DROP_EPOCHS}."
            )
        self.milestones = milestones

    def step(self, val_error: float | None = None) -> bool:
        """End one epoch; True if the learning rate was divided after it."""
        self.epoch += 1
        if self.epoch not in self.milestones:
            return False
        self._divide()
        return True
