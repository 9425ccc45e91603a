"""Tests of alexnet_lib.optim against hand-computed updates, torch.optim.SGD and scripted errors."""

import copy

import pytest
import torch
from torch import nn

from alexnet_lib.errors import AlexNetError
from alexnet_lib.optim import PAPER_2012_DROP_EPOCHS, DivideOnPlateau, PaperSGD, StepDrops

# Loss 0.5 * sum(w^2), so dL/dw = w; w0 = [1, -2]; eps = 0.1, mu = 0.9, lambda = 0.5 (large, to
# see it). By hand, per unit of w0 (the update is linear in w here):
#   v1 = -0.05 * 1      - 0.1 * 1      = -0.15       w1 = 0.85
#   v2 = 0.9 * -0.15    - 0.15 * 0.85  = -0.2625     w2 = 0.5875
#   v3 = 0.9 * -0.2625  - 0.15 * 0.5875 = -0.324375  w3 = 0.263125
# then eps -> 0.01:
#   paper: v4 = 0.9 * -0.324375 - 0.015 * 0.263125 = -0.295884375   w4 = -0.032759375
#   torch: b3 = -v3 / 0.1 = 3.24375;  b4 = 0.9 * 3.24375 + 1.5 * 0.263125 = 3.3140625;
#          w4 = 0.263125 - 0.01 * 3.3140625 = 0.229984375
W0 = torch.tensor([1.0, -2.0], dtype=torch.float64)
HAND_W = [0.85, 0.5875, 0.263125]
HAND_V = [-0.15, -0.2625, -0.324375]
HAND_W4_PAPER, HAND_W4_TORCH = -0.032759375, 0.229984375


def quadratic_steps(optimizer_class, lrs, **kwargs):
    """Weights after each step on 0.5 * sum(w^2) from W0, one step per learning rate in ``lrs``."""
    w = W0.clone().requires_grad_()
    optimizer = optimizer_class([w], lr=lrs[0], momentum=0.9, weight_decay=0.5, **kwargs)
    weights = []
    for lr in lrs:
        optimizer.param_groups[0]["lr"] = lr
        optimizer.zero_grad()
        (0.5 * w.square().sum()).backward()
        optimizer.step()
        weights.append(w.detach().clone())
    return weights, optimizer.state[w]


def test_paper_sgd_matches_hand_computed_three_steps():
    weights, state = quadratic_steps(PaperSGD, [0.1, 0.1, 0.1])
    for w, hand in zip(weights, HAND_W):
        torch.testing.assert_close(w, hand * W0, rtol=1e-14, atol=1e-14)
    torch.testing.assert_close(state["velocity"], HAND_V[-1] * W0, rtol=1e-14, atol=1e-14)


def test_after_lr_divided_by_10_paper_and_torch_part_as_computed_by_hand():
    paper, _ = quadratic_steps(PaperSGD, [0.1, 0.1, 0.1, 0.01])
    torchs, _ = quadratic_steps(torch.optim.SGD, [0.1, 0.1, 0.1, 0.01])
    for a, b in zip(paper[:3], torchs[:3]):
        torch.testing.assert_close(a, b, rtol=1e-14, atol=1e-14)
    torch.testing.assert_close(paper[3], HAND_W4_PAPER * W0, rtol=1e-14, atol=1e-14)
    torch.testing.assert_close(torchs[3], HAND_W4_TORCH * W0, rtol=1e-14, atol=1e-14)


def test_defaults_are_the_papers():
    optimizer = PaperSGD([nn.Parameter(torch.zeros(1))])
    assert optimizer.defaults == dict(lr=0.01, momentum=0.9, weight_decay=0.0005)


def small_net(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 3)).double()


def two_groups(net, lr=0.05):
    """Weights and biases in separate groups with their own rates and decays."""
    weights = [p for name, p in net.named_parameters() if name.endswith("weight")]
    biases = [p for name, p in net.named_parameters() if name.endswith("bias")]
    return [
        dict(params=weights, lr=lr, weight_decay=5e-4),
        dict(params=biases, lr=2 * lr, weight_decay=0.0),
    ]


def train_steps(net, optimizer, steps, generator):
    """``steps`` SGD steps of ``net`` on random regression batches drawn from ``generator``."""
    for _ in range(steps):
        x = torch.randn(16, 5, generator=generator, dtype=torch.float64)
        y = torch.randn(16, 3, generator=generator, dtype=torch.float64)
        optimizer.zero_grad()
        nn.functional.mse_loss(net(x), y).backward()
        optimizer.step()


def divide_lr(optimizer, factor=10):
    for group in optimizer.param_groups:
        group["lr"] /= factor


def test_paper_sgd_equals_torch_sgd_while_lr_is_constant():
    paper_net, torch_net = small_net(), small_net()
    paper = PaperSGD(two_groups(paper_net), momentum=0.9)
    torchs = torch.optim.SGD(two_groups(torch_net), momentum=0.9)
    train_steps(paper_net, paper, 60, torch.Generator().manual_seed(0))
    train_steps(torch_net, torchs, 60, torch.Generator().manual_seed(0))
    for group_p, group_t in zip(paper.param_groups, torchs.param_groups):
        for a, b in zip(group_p["params"], group_t["params"]):
            torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
            # the two velocities: v_paper = -eps * b_torch
            torch.testing.assert_close(
                paper.state[a]["velocity"], -group_t["lr"] * torchs.state[b]["momentum_buffer"],
                rtol=1e-9, atol=1e-12,
            )


def test_first_step_after_dividing_lr_differs_from_torch_by_mu_nine_tenths_v():
    paper_net, torch_net = small_net(), small_net()
    paper = PaperSGD(two_groups(paper_net), momentum=0.9)
    torchs = torch.optim.SGD(two_groups(torch_net), momentum=0.9)
    for net, optimizer in ((paper_net, paper), (torch_net, torchs)):
        generator = torch.Generator().manual_seed(0)
        train_steps(net, optimizer, 10, generator)
        if optimizer is paper:
            v = {p: paper.state[p]["velocity"].clone() for p in net.parameters()}
        divide_lr(optimizer)
        train_steps(net, optimizer, 1, generator)
    for a, b in zip(paper_net.parameters(), torch_net.parameters()):
        # Same w and gradient before the step: only the carried momentum differs,
        # mu * v for the paper against mu * v / 10 for torch.
        expected = 0.9 * (1 - 1 / 10) * v[a]
        torch.testing.assert_close(a.detach() - b.detach(), expected, rtol=1e-8, atol=1e-12)
        assert expected.abs().max() > 1e-4  # measurable, not rounding


def test_state_dict_round_trip_resumes_exactly():
    net = small_net()
    optimizer = PaperSGD(two_groups(net), momentum=0.9)
    train_steps(net, optimizer, 3, torch.Generator().manual_seed(0))
    divide_lr(optimizer)
    train_steps(net, optimizer, 2, torch.Generator().manual_seed(1))
    saved_net, saved_optimizer = copy.deepcopy((net.state_dict(), optimizer.state_dict()))
    train_steps(net, optimizer, 5, torch.Generator().manual_seed(2))

    resumed = small_net(seed=7)  # other weights, overwritten by the checkpoint
    resumed.load_state_dict(saved_net)
    resumed_optimizer = PaperSGD(two_groups(resumed, lr=1.0))  # lr too, from the checkpoint
    resumed_optimizer.load_state_dict(saved_optimizer)
    train_steps(resumed, resumed_optimizer, 5, torch.Generator().manual_seed(2))
    for a, b in zip(net.parameters(), resumed.parameters()):
        assert torch.equal(a, b)
    assert [g["lr"] for g in resumed_optimizer.param_groups] == pytest.approx([0.005, 0.01])


@pytest.mark.parametrize(
    "kwargs, message",
    [(dict(lr=-0.01), "lr="), (dict(momentum=1.0), "momentum="), (dict(momentum=-0.5), "momentum="),
     (dict(weight_decay=-5e-4), "weight_decay=")],
)
def test_paper_sgd_rejects_bad_hyperparameters(kwargs, message):
    with pytest.raises(AlexNetError, match=message):
        PaperSGD([nn.Parameter(torch.zeros(1))], **kwargs)
    optimizer = PaperSGD([nn.Parameter(torch.zeros(1))])
    with pytest.raises(AlexNetError, match=message):  # a param group's own value too
        optimizer.add_param_group(dict(params=[nn.Parameter(torch.zeros(1))], **kwargs))


def plateau_run(errors, optimizer=None, schedule=None, **kwargs):
    optimizer = optimizer or PaperSGD([nn.Parameter(torch.zeros(1))], lr=0.01)
    schedule = schedule or DivideOnPlateau(optimizer, **kwargs)
    divided = [schedule.step(e) for e in errors]
    return divided, optimizer, schedule


def test_divide_on_plateau_divides_where_the_script_says_and_at_most_three_times():
    errors = [0.9, 0.8, 0.8, 0.85,  # epochs 3, 4 fail to improve: divide after 4
              0.7, 0.6, 0.6, 0.6,   # best forgotten at the new rate; 7, 8 fail: divide after 8
              0.5, 0.5, 0.5,        # divide after 11: the third and last time
              0.4, 0.4, 0.4, 0.4, 0.4, 0.4]  # plateau again: no fourth division
    divided, optimizer, schedule = plateau_run(errors, patience=2, threshold=0.0)
    assert [epoch for epoch, d in enumerate(divided, 1) if d] == [4, 8, 11]
    assert schedule.drop_epochs == [4, 8, 11] and schedule.drops == 3
    assert optimizer.param_groups[0]["lr"] == pytest.approx(1e-5)


def test_divide_on_plateau_needs_improvement_beyond_threshold():
    # Default patience 3, threshold 0.001: gains of 0.0005 and less do not count as improvement.
    divided, _, _ = plateau_run([0.5, 0.4995, 0.4992, 0.4990])
    assert divided == [False, False, False, True]
    divided, _, _ = plateau_run([0.5, 0.4985, 0.497, 0.4955])  # 0.0015 per epoch: improving
    assert divided == [False] * 4


def test_divide_on_plateau_divides_every_group_of_any_optimizer():
    net = small_net()
    optimizer = torch.optim.SGD(two_groups(net, lr=0.01), momentum=0.9)
    plateau_run([0.5, 0.5, 0.5, 0.5], optimizer=optimizer)
    assert [g["lr"] for g in optimizer.param_groups] == pytest.approx([0.001, 0.002])


def test_divide_on_plateau_state_round_trip_resumes_the_schedule():
    errors = [0.9, 0.8, 0.8, 0.8, 0.7, 0.7, 0.7, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6]
    _, whole_optimizer, whole = plateau_run(errors, patience=2)

    _, optimizer, schedule = plateau_run(errors[:6], patience=2)  # stop mid-plateau
    saved_optimizer, saved_schedule = optimizer.state_dict(), schedule.state_dict()
    resumed_optimizer = PaperSGD([nn.Parameter(torch.zeros(1))], lr=0.01)
    resumed_optimizer.load_state_dict(saved_optimizer)
    resumed = DivideOnPlateau(resumed_optimizer, patience=2)
    resumed.load_state_dict(saved_schedule)
    plateau_run(errors[6:], optimizer=resumed_optimizer, schedule=resumed)

    assert resumed.state_dict() == whole.state_dict()
    assert resumed.drop_epochs == whole.drop_epochs == [4, 7, 10]
    assert resumed_optimizer.param_groups[0]["lr"] == whole_optimizer.param_groups[0]["lr"]


def test_step_drops_replays_the_2012_code_drops_after_epochs_25_51_79():
    assert PAPER_2012_DROP_EPOCHS == (25, 51, 79)
    optimizer = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.01, momentum=0.9)
    schedule = StepDrops(optimizer)
    lr_of_epoch = {}
    for epoch in range(1, 91):  # epochs counted from 1, as in the 2012 notes
        lr_of_epoch[epoch] = optimizer.param_groups[0]["lr"]
        schedule.step()
    assert schedule.drop_epochs == [25, 51, 79]
    expected = {1: 1e-2, 25: 1e-2, 26: 1e-3, 51: 1e-3, 52: 1e-4, 79: 1e-4, 80: 1e-5, 90: 1e-5}
    assert {e: lr_of_epoch[e] for e in expected} == pytest.approx(expected)


def test_step_drops_state_round_trip():
    optimizer = PaperSGD([nn.Parameter(torch.zeros(1))])
    schedule = StepDrops(optimizer, (2, 4))
    for _ in range(3):
        schedule.step(0.5)
    resumed = StepDrops(optimizer, (2, 4))
    resumed.load_state_dict(schedule.state_dict())
    assert [resumed.step(), resumed.step()] == [True, False]
    assert resumed.drop_epochs == [2, 4]


@pytest.mark.parametrize(
    "make, message",
    [(lambda o: DivideOnPlateau(o, factor=1.0), "factor="),
     (lambda o: DivideOnPlateau(o, patience=0), "patience="),
     (lambda o: DivideOnPlateau(o, threshold=-0.1), "threshold="),
     (lambda o: DivideOnPlateau(o, max_drops=-1), "max_drops="),
     (lambda o: StepDrops(o, (51, 25)), "milestones="),
     (lambda o: StepDrops(o, (0, 25)), "milestones="),
     (lambda o: StepDrops(o, factor=0.1), "factor=")],
)
def test_schedules_reject_bad_arguments(make, message):
    with pytest.raises(AlexNetError, match=message):
        make(PaperSGD([nn.Parameter(torch.zeros(1))]))


def test_loading_another_schedules_state_raises():
    optimizer = PaperSGD([nn.Parameter(torch.zeros(1))])
    with pytest.raises(AlexNetError, match="another schedule"):
        DivideOnPlateau(optimizer).load_state_dict(StepDrops(optimizer).state_dict())


def test_paper_sgd_updates_every_tensor_exactly_as_the_rule_one_at_a_time():
    # step() updates all of a group's tensors at once (torch._foreach_*): the same numbers, bit for
    # bit, as the rule applied to each tensor in turn; a tensor without a gradient is left alone.
    torch.manual_seed(0)
    shapes = [(4, 3, 5, 5), (4,), (7, 6), (1,)]
    params = [nn.Parameter(torch.randn(s)) for s in shapes]
    frozen = nn.Parameter(torch.randn(3))
    optimizer = PaperSGD(params + [frozen], lr=0.05)
    by_hand = [p.detach().clone() for p in params]
    velocities = [torch.zeros_like(p) for p in params]
    for step in range(3):
        grads = [torch.randn(s) for s in shapes]
        for p, g in zip(params, grads):
            p.grad = g.clone()
        optimizer.step()
        for w, v, g in zip(by_hand, velocities, grads):
            v.mul_(0.9).add_(w, alpha=-0.0005 * 0.05).add_(g, alpha=-0.05)
            w.add_(v)
        for p, w in zip(params, by_hand):
            assert torch.equal(p.detach(), w)
    assert frozen not in optimizer.state
    assert all(torch.equal(optimizer.state[p]["velocity"], v) for p, v in zip(params, velocities))
