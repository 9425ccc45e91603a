"""Paper §2: top-1 and top-5 error, on a batch of scores or over a whole data loader."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
from torch import nn

from .config import get_device
from .errors import AlexNetError


def _true_label_ranks(scores: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """How many classes score at least as high as the true one (0 = the true label is alone on top).

    Ties count against the model: a class tied with the true label ranks above it. So a net whose
    scores are all equal (e.g. dead ReLUs at the start of training) gets 100% error, not 0%.
    A row holding any NaN score (a diverged net) counts as wrong at every k.
    """
    if scores.dim() != 2 or targets.shape != scores.shape[:1]:
        raise AlexNetError(
            f"Expected scores of shape (samples, classes) and targets of shape (samples,); "
            f"got {tuple(scores.shape)} and {tuple(targets.shape)}."
        )
    true_scores = scores.gather(1, targets.long().unsqueeze(1))
    ranks = (scores >= true_scores).sum(1) - 1  # minus the true class itself
    return ranks.masked_fill(scores.isnan().any(1), scores.shape[1])


def _check_ks(ks: Sequence[int], num_classes: int) -> None:
    for k in ks:
        if not 1 <= k <= num_classes:
            raise AlexNetError(
                f"top-{k} error needs 1 <= k <= number of classes ({num_classes}); "
                "pass ks with smaller values, e.g. ks=(1,)."
            )


def _errors_from_ranks(ranks: torch.Tensor, ks: Sequence[int]) -> dict[int, float]:
    return {k: (ranks >= k).sum().item() / len(ranks) for k in ks}


def topk_errors(
    logits: torch.Tensor, targets: torch.Tensor, ks: Sequence[int] = (1, 5)
) -> dict[int, float]:
    """Paper §2: the fraction of samples whose true label is not among the k highest scores.

    ``logits`` is (samples, classes), any scores where higher means more likely (logits or
    averaged softmax); ``targets`` holds class indices. Returns ``{k: error}`` for each k, e.g.
    ``{1: 0.375, 5: 0.17}`` for the paper's ILSVRC-2010 result.

    Ties: a class whose score equals the true label's counts as ranked above it, so ties never
    help. Raises `AlexNetError` when a k is below 1 or above the number of classes.
    """
    ranks = _true_label_ranks(logits, targets)
    _check_ks(ks, logits.shape[1])
    return _errors_from_ranks(ranks, ks)


def evaluate(
    model: nn.Module,
    loader: Iterable[tuple[torch.Tensor, torch.Tensor]],
    device: torch.device | str | None = None,
    ks: Sequence[int] = (1, 5),
) -> dict[int, float]:
    """Paper §2: top-k errors of ``model`` over every (images, labels) batch of ``loader``.

    Runs in eval mode (dropout off) under ``torch.no_grad`` on ``device``, by default
    `get_device()`; moves the model there, and restores its train/eval mode afterwards.
    """
    device = torch.device(device) if device is not None else get_device()
    was_training = model.training
    model.to(device).eval()
    ranks = []
    try:
        with torch.no_grad():
            for images, labels in loader:
                logits = model(images.to(device))
                if not ranks:  # the first batch tells how many classes there are
                    _check_ks(ks, logits.shape[-1])
                ranks.append(_true_label_ranks(logits, labels.to(device)).cpu())
    finally:
        model.train(was_training)
    if not ranks:
        raise AlexNetError("The loader yielded no batches: check the dataset path and its size.")
    return _errors_from_ranks(torch.cat(ranks), ks)
