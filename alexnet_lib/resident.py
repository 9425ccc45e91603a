"""Paper §3.1 and §3.3: train small nets fast, with the whole dataset resident on the device.

The small-net experiments (Figure 1's ReLU-vs-tanh race, §3.3's CIFAR-10 claim) train a net of
about 90,000 parameters on 50,000-60,000 tiny images, many times over. Loading and collating those
images batch by batch can cost as much as the net itself, so, as in airbench: the images go to
the device once, as one normalised float tensor; each epoch draws a seeded permutation and slices
minibatches out of it by index. No DataLoader, no worker processes, nothing hidden: the loop in
`train_resident` is the whole of training.

    train = to_device_dataset(train_arrays, device)
    val = to_device_dataset(test_arrays, device, stats_from=train_arrays)
    history = train_resident(CifarNet("relu"), train, epochs=10, lr=0.01, val=val)
    epochs_to_reach(history, 0.25)  # Figure 1: epochs until 25% training error
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from .config import get_device
from .errors import AlexNetError
from .evaluate import evaluate
from .expected import Expected, timed

# (images N x C x H x W float, labels N int64), both on the device that trains on them.
ResidentData = tuple[torch.Tensor, torch.Tensor]


def channel_stats(arrays) -> tuple[torch.Tensor, torch.Tensor]:
    """Paper §3.1 and §3.3: mean and standard deviation of each channel's pixel values (0..255).

    ``arrays`` is an `ImageArrays` (``images`` N x C x H x W uint8). Returns two C-element float
    tensors on the images' device.
    """
    images = arrays.images
    if images.dtype != torch.uint8 or images.dim() != 4:
        raise AlexNetError(
            f"Expected N x C x H x W uint8 images, got {images.dtype} {tuple(images.shape)}: "
            "load them with alexnet_lib.data."
        )
    # One channel at a time: a float copy of one channel, not of the whole dataset.
    std, mean = zip(*(torch.std_mean(images[:, c].float()) for c in range(images.shape[1])))
    return torch.stack(mean), torch.stack(std)


def to_device_dataset(arrays, device=None, *, stats_from=None) -> ResidentData:
    """Paper §3.1 and §3.3: a whole `ImageArrays` on ``device``, normalised per channel.

    Each channel has the *training* set's mean subtracted and is divided by its standard
    deviation: pass the training set alone, and pass it again as ``stats_from`` when moving its
    validation or test set, so that both are normalised alike. The uint8 images travel to the
    device first (4x less to copy) and are converted there. ``device`` defaults to
    `get_device()` (CUDA when present). Returns ``(x, y)``: float32 images and int64 labels.
    """
    device = torch.device(device) if device is not None else get_device()
    mean, std = channel_stats(stats_from if stats_from is not None else arrays)
    mean, std = mean.to(device)[:, None, None], std.to(device).clamp(min=1e-6)[:, None, None]
    x = (arrays.images.to(device).float() - mean) / std  # a constant channel becomes all zeros
    return x, arrays.labels.to(device)


@dataclass
class History:
    """Paper §3.1 (Figure 1): what one training run measured, one entry per epoch."""

    train_error: list[float] = field(default_factory=list)  # during the epoch (Figure 1's y axis)
    train_loss: list[float] = field(default_factory=list)  # mean cross-entropy during the epoch
    val_error: list[float] = field(default_factory=list)  # after the epoch; empty without val
    seconds: list[float] = field(default_factory=list)  # wall time of the epoch's training
    # with ``record_every=m``: (batches so far, training error over the last m batches), finer than epochs
    steps: list[tuple[int, float]] = field(default_factory=list)


def _mistakes(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """How many rows fail to score their true label strictly above every other class.

    Ties count as mistakes, as in `evaluate.topk_errors`; so do rows of NaNs (a diverged net).
    """
    true_scores = logits.gather(1, labels[:, None])
    return ((logits < true_scores).sum(1) != logits.shape[1] - 1).sum()


def _slices(data: ResidentData, size: int) -> list[ResidentData]:
    """A resident dataset as consecutive (images, labels) batches: views, no copies."""
    x, y = data
    return [(x[i:i + size], y[i:i + size]) for i in range(0, len(y), size)]


def train_resident(
    model: nn.Module,
    train: ResidentData,
    *,
    epochs: int,
    lr: float,
    batch_size: int = 128,
    momentum: float = 0.9,
    weight_decay: float = 0.0,
    seed: int = 0,
    val: ResidentData | None = None,
    device=None,
    progress: bool = True,
    augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None,
    record_every: int = 0,
    after_epoch: Callable[[nn.Module], None] | None = None,
    optimizer: torch.optim.Optimizer | None = None,
) -> History:
    """Paper §3.1: minibatch SGD with momentum over a resident dataset; returns the curves.

    Each epoch shuffles the training set with a permutation from a `torch.Generator` seeded with
    ``seed`` (so a run is repeatable: on the CPU, bit for bit), slices it into batches of
    ``batch_size`` (the last one smaller when N is not a multiple) and takes one step of
    `torch.optim.SGD` per batch; every example is used exactly once per epoch. PyTorch's SGD puts
    the learning rate outside the velocity; the paper's own rule (§5) is a separate module.

    The training error of an epoch counts the mistakes the net made on each batch just before
    learning from it, over the whole epoch: the number cuda-convnet printed, which Figure 1 plots.
    It needs no extra pass over the data, and lags the net as it is at the end of the epoch.
    ``val`` (another resident dataset): top-1 error after each epoch, in eval mode.

    ``augment`` (Paper §4.1), when given, maps each batch of images to the batch the net learns
    from, as ``augment(images, generator)``: e.g. ``lambda x, g: random_crops_and_flips(x, 28, g)``
    (`alexnet_lib.augment`). It draws from the run's seeded generator, so a run still repeats; the
    training error then counts mistakes on the augmented batches, and ``val`` must already have the
    shape the net expects (cut its centre patches, or leave ``val`` out and evaluate afterwards).

    ``device`` defaults to the device the training images are on; the model is moved there, in
    the channels_last memory layout (in place, as `nn.Module.to` does). ``record_every=m`` (> 0)
    also records, every m batches, the training error over those m batches in ``history.steps``:
    Figure 1's curve at a resolution finer than an epoch. ``after_epoch(model)``, when given, is
    called after each epoch (after ``val``): to measure anything else as training goes, or to step
    a learning-rate schedule. ``optimizer``, when given, is used instead of `torch.optim.SGD` (e.g.
    §5's `alexnet_lib.optim.PaperSGD` over the model's parameters, built after the model is on its
    device); ``lr``, ``momentum`` and ``weight_decay`` are then its own. If the loss becomes NaN or
    infinite (a learning rate too high), training stops after that epoch: the lists are then
    shorter than ``epochs``. ``progress`` shows a tqdm bar, one tick per epoch. A run expected to
    take over a minute says so after its first steps (`alexnet_lib.expected`).
    """
    x, y = train
    device = torch.device(device) if device is not None else x.device
    x, y = x.to(device), y.to(device)
    # channels_last (N, H, W, C in memory): the layout in which oneDNN on the CPU and cuDNN on
    # the GPU convolve fastest (about 1.4x for CifarNet on a CPU). The same numbers, up to rounding.
    model.to(device, memory_format=torch.channels_last).train()
    optimizer = optimizer or torch.optim.SGD(
        model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay
    )
    generator = torch.Generator().manual_seed(seed)
    history = History()
    window, window_images, step = torch.zeros((), device=device), 0, 0
    expected = Expected(f"training for {epochs} epochs", epochs * math.ceil(len(y) / batch_size), device)
    bar = tqdm(range(epochs), desc=f"lr {lr:g}", unit="epoch", disable=not progress)
    for _ in bar:
        start = time.perf_counter()
        order = torch.randperm(len(y), generator=generator).to(device)
        mistakes = torch.zeros((), device=device)  # summed on the device: no sync per batch
        loss_sum = torch.zeros((), device=device)
        for first in range(0, len(y), batch_size):
            batch = order[first:first + batch_size]
            inputs = x[batch] if augment is None else augment(x[batch], generator)
            logits = model(inputs)
            loss = F.cross_entropy(logits, y[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            wrong = _mistakes(logits.detach(), y[batch])
            mistakes += wrong
            loss_sum += loss.detach() * len(batch)
            step += 1
            expected.step()
            if record_every:
                window += wrong
                window_images += len(batch)
                if step % record_every == 0:
                    history.steps.append((step, window.item() / window_images))
                    window, window_images = torch.zeros((), device=device), 0
        history.train_error.append(mistakes.item() / len(y))
        history.train_loss.append(loss_sum.item() / len(y))
        history.seconds.append(time.perf_counter() - start)
        postfix = {"train_error": f"{history.train_error[-1]:.3f}"}
        if val is not None:
            history.val_error.append(evaluate(model, _slices(val, 1024), device, ks=(1,))[1])
            postfix["val_error"] = f"{history.val_error[-1]:.3f}"
        if after_epoch is not None:
            after_epoch(model)
        bar.set_postfix(postfix, refresh=False)
        if not math.isfinite(history.train_loss[-1]):
            break  # diverged: every later epoch would be NaN as well
    return history


def epochs_to_reach(history: History, threshold: float) -> float | None:
    """Paper §3.1 (Figure 1): after how many epochs the training error first reaches ``threshold``.

    Epoch e (1, 2, ...) is the point (e, ``train_error[e - 1]``): the error measured during the
    epoch, plotted at its end. Between points the curve is a straight line, so the answer is the
    first crossing by linear interpolation, e.g. 2.5 when epoch 2 ended above the threshold and
    epoch 3 as far below it. 1.0 if the first epoch already reaches it, None if no epoch does.
    """
    errors = history.train_error
    for e, error in enumerate(errors):
        if error <= threshold:
            if e == 0:
                return 1.0
            before = errors[e - 1]
            return e + (before - threshold) / (before - error)
    return None


def lr_sweep(
    make_model: Callable[[], nn.Module],
    train: ResidentData,
    lrs: Sequence[float],
    epochs: int,
    *,
    seed: int = 0,
    **train_kwargs,
) -> dict[float, History]:
    """Paper §3.1: "learning rates chosen independently for each net to train as fast as possible".

    Trains a fresh ``make_model()`` for each learning rate, every one built under the same seed
    (so all start from the same weights) and shown the same batches; ``train_kwargs`` go to
    `train_resident`. Returns ``{lr: History}``; `fastest_lr` picks the winner.
    """
    histories = {}
    for lr in timed(lrs, f"the sweep of {len(lrs)} learning rates"):
        torch.manual_seed(seed)
        model = make_model()
        histories[lr] = train_resident(
            model, train, epochs=epochs, lr=lr, seed=seed, **train_kwargs
        )
    return histories


def fastest_lr(histories: dict[float, History], threshold: float) -> float:
    """Paper §3.1: the learning rate whose run reached ``threshold`` training error in the fewest
    epochs (`epochs_to_reach`); if none reached it, the one with the lowest final training error.
    """

    def slowness(lr: float) -> tuple[float, float]:
        reached = epochs_to_reach(histories[lr], threshold)
        return (reached if reached is not None else math.inf, histories[lr].train_error[-1])

    return min(histories, key=slowness)
