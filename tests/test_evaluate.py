"""Tests of alexnet_lib.evaluate on hand-built scores whose top-k errors are known."""

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from alexnet_lib.errors import AlexNetError
from alexnet_lib.evaluate import evaluate, topk_errors

# 4 samples, 6 classes. The true label (in targets) sits at rank 1, 2, 5 and 6 of its row.
LOGITS = torch.tensor([
    [0.9, 0.1, 0.0, 0.0, 0.0, 0.0],  # true 0: highest                -> rank 1
    [0.5, 0.1, 0.2, 0.3, 0.4, 0.0],  # true 4: below class 0           -> rank 2
    [0.6, 0.5, 0.4, 0.3, 0.2, 0.1],  # true 4: below classes 0..3      -> rank 5
    [0.6, 0.5, 0.4, 0.3, 0.2, 0.1],  # true 5: lowest                  -> rank 6
])
TARGETS = torch.tensor([0, 4, 4, 5])


def test_topk_errors_on_known_ranks():
    errors = topk_errors(LOGITS, TARGETS, ks=(1, 2, 5, 6))
    # top-1 misses ranks 2, 5, 6; top-2 misses 5, 6; top-5 misses 6; top-6 misses nothing.
    assert errors == {1: 3 / 4, 2: 2 / 4, 5: 1 / 4, 6: 0.0}


def test_topk_errors_default_ks_are_the_papers_top1_top5():
    assert topk_errors(LOGITS, TARGETS) == {1: 0.75, 5: 0.25}


def test_ties_count_against_the_true_label():
    # All scores equal (a collapsed net): no credit below k = number of classes.
    flat = torch.zeros(3, 4)
    assert topk_errors(flat, torch.tensor([0, 1, 3]), ks=(1, 3, 4)) == {1: 1.0, 3: 1.0, 4: 0.0}
    # A tie for first place with another class is a top-1 miss but a top-2 hit.
    tied = torch.tensor([[1.0, 1.0, 0.0]])
    assert topk_errors(tied, torch.tensor([0]), ks=(1, 2)) == {1: 1.0, 2: 0.0}


def test_nan_scores_count_as_errors_at_every_k():
    # A diverged net outputs NaN; NaN >= x is False, so a naive rank would put the label on top.
    nan = float("nan")
    scores = torch.tensor([[nan, nan, nan], [0.0, nan, 1.0], [0.0, 1.0, 2.0]])
    assert topk_errors(scores, torch.tensor([0, 2, 2]), ks=(1, 3)) == {1: 2 / 3, 3: 2 / 3}


def test_k_larger_than_classes_raises_clear_error():
    with pytest.raises(AlexNetError, match=r"top-7 error needs 1 <= k <= number of classes \(6\)"):
        topk_errors(LOGITS, TARGETS, ks=(1, 7))
    with pytest.raises(AlexNetError, match="top-0"):
        topk_errors(LOGITS, TARGETS, ks=(0,))


def test_mismatched_shapes_raise_clear_error():
    with pytest.raises(AlexNetError, match="shape"):
        topk_errors(LOGITS, TARGETS[:3])


class FixedScores(nn.Module):
    """Returns the row of LOGITS that each input index names; records the modes it ran in."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))
        self.register_buffer("table", LOGITS.clone())  # moves with the model to its device
        self.seen = []

    def forward(self, index):
        self.seen.append((self.training, torch.is_grad_enabled()))
        return self.table[index] * self.scale


def test_evaluate_accumulates_over_uneven_batches_like_one_big_batch():
    loader = DataLoader(TensorDataset(torch.arange(4), TARGETS), batch_size=3)  # batches of 3 and 1
    model = FixedScores().train()
    errors = evaluate(model, loader, device="cpu", ks=(1, 2, 5))
    assert errors == topk_errors(LOGITS, TARGETS, ks=(1, 2, 5)) == {1: 0.75, 2: 0.5, 5: 0.25}
    assert model.seen == [(False, False), (False, False)]  # eval mode, no autograd, both batches
    assert model.training  # mode restored


def test_evaluate_default_device_and_k_check():
    loader = DataLoader(TensorDataset(torch.arange(4), TARGETS), batch_size=2)
    model = FixedScores()
    assert evaluate(model, loader) == {1: 0.75, 5: 0.25}
    with pytest.raises(AlexNetError, match="top-10"):
        evaluate(model, loader, ks=(1, 10))


def test_evaluate_empty_loader_raises_clear_error():
    with pytest.raises(AlexNetError, match="no batches"):
        evaluate(FixedScores(), [], device="cpu")
