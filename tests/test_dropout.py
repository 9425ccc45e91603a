"""Tests of alexnet_lib.dropout against the §4.2 rule, hand values and torch's nn.Dropout."""

import copy
import math

import pytest
import torch
from torch import nn

from alexnet_lib.dropout import PaperDropout
from alexnet_lib.errors import AlexNetError


@pytest.mark.parametrize("p", [0.5, 0.2])
def test_training_drops_a_fraction_p_of_units(p):
    torch.manual_seed(0)
    n = 1_000_000
    out = PaperDropout(p).train()(torch.ones(1000, 1000))
    dropped = (out == 0).float().mean().item()
    assert abs(dropped - p) < 5 * math.sqrt(p * (1 - p) / n)  # 5 standard errors of a binomial


def test_training_keeps_units_unchanged_not_rescaled():
    torch.manual_seed(1)
    x = torch.rand(64, 100) + 0.5  # no zeros of its own
    out = PaperDropout(0.3).train()(x)
    kept = out != 0
    assert 0 < kept.sum() < x.numel()
    assert torch.equal(out[kept], x[kept])


@pytest.mark.parametrize("p, expected", [(0.5, [1.0, -2.0, 3.0]), (0.25, [1.5, -3.0, 4.5])])
def test_eval_multiplies_every_output_by_one_minus_p(p, expected):
    # §4.2: "use all the neurons but multiply their outputs by 0.5".
    x = torch.tensor([2.0, -4.0, 6.0])
    assert torch.equal(PaperDropout(p).eval()(x), torch.tensor(expected))


@pytest.mark.parametrize("p", [0.5, 0.2])
def test_expected_training_output_equals_eval_output(p):
    torch.manual_seed(2)
    x = torch.randn(8, dtype=torch.float64)
    draws = 200_000
    dropout = PaperDropout(p)
    mean = dropout.train()(x.expand(draws, 8)).mean(0)
    standard_error = x.abs() * math.sqrt(p * (1 - p) / draws)
    assert torch.all((mean - dropout.eval()(x)).abs() < 5 * standard_error)


@pytest.mark.parametrize("p", [0.5, 0.3])
def test_same_seed_gives_torch_dropout_output_times_one_minus_p(p):
    # Same mask; torch scales the kept units by 1 / (1 - p) in training, the paper does not.
    x = torch.randn(32, 50, dtype=torch.float64)
    torch.manual_seed(3)
    paper = PaperDropout(p).train()(x)
    torch.manual_seed(3)
    inverted = nn.Dropout(p).train()(x)
    assert torch.equal(paper == 0, inverted == 0)
    torch.testing.assert_close(paper / (1 - p), inverted, rtol=1e-15, atol=0)


def two_layer_net(dropout: nn.Module) -> nn.Sequential:
    return nn.Sequential(nn.Linear(6, 16), nn.ReLU(), dropout, nn.Linear(16, 3)).double()


@pytest.mark.parametrize("p", [0.5, 0.3])
def test_paper_net_equals_inverted_net_whose_next_weights_are_scaled_by_one_minus_p(p):
    torch.manual_seed(4)
    paper = two_layer_net(PaperDropout(p))
    inverted = copy.deepcopy(paper)
    inverted[2] = nn.Dropout(p)
    with torch.no_grad():
        inverted[3].weight.mul_(1 - p)  # the next layer's weights; its bias unchanged
    x = torch.randn(20, 6, dtype=torch.float64)

    # Test time: the same function.
    torch.testing.assert_close(paper.eval()(x), inverted.eval()(x), rtol=1e-13, atol=1e-13)

    # Training, same mask: the same outputs, hence the same loss ...
    torch.manual_seed(5)
    loss_paper = paper.train()(x).square().sum()
    torch.manual_seed(5)
    loss_inverted = inverted.train()(x).square().sum()
    torch.testing.assert_close(loss_paper, loss_inverted, rtol=1e-13, atol=0)

    # ... but not the same training: the scaled weights get the gradient divided by 1 - p.
    loss_paper.backward()
    loss_inverted.backward()
    torch.testing.assert_close(inverted[3].weight.grad, paper[3].weight.grad / (1 - p),
                               rtol=1e-12, atol=1e-13)
    torch.testing.assert_close(inverted[0].weight.grad, paper[0].weight.grad, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("p", [-0.1, 1.0, 1.5])
def test_probability_outside_zero_to_one_raises(p):
    with pytest.raises(AlexNetError, match="PaperDropout p="):
        PaperDropout(p)
