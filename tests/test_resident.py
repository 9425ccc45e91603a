"""Tests of alexnet_lib.resident on tiny datasets built here, whose answers are known."""

import pytest
import torch
from torch import nn

from alexnet_lib.data.arrays import ImageArrays
from alexnet_lib.errors import AlexNetError
from alexnet_lib.models import CifarNet
from alexnet_lib.resident import (
    History,
    channel_stats,
    epochs_to_reach,
    fastest_lr,
    lr_sweep,
    to_device_dataset,
    train_resident,
)


def learnable_arrays(n=400, size=8, seed=0):
    """10 classes of 1 x size x size noise images; class c brightens a 2x2 patch at its own spot."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 10, (n,), generator=g)
    images = torch.randint(0, 60, (n, 1, size, size), generator=g)
    for c in range(10):
        row, col = 2 * (c // 4), 2 * (c % 4)
        images[labels == c, :, row:row + 2, col:col + 2] += 190
    classes = [f"patch {c}" for c in range(10)]
    return ImageArrays(images.to(torch.uint8), labels, classes, "synthetic (tests)")


def test_channel_stats_are_per_channel_mean_and_std():
    images = torch.zeros(2, 2, 1, 2, dtype=torch.uint8)
    images[:, 0] = torch.tensor([[[0, 2]], [[4, 6]]])  # channel 0: 0, 2, 4, 6
    images[:, 1] = 10  # channel 1: constant
    mean, std = channel_stats(ImageArrays(images, torch.zeros(2, dtype=torch.int64), ["a"], "t"))
    # channel_stats returns float32: the default tolerance (1.3e-6 relative) is 10 ulps or more.
    torch.testing.assert_close(mean, torch.tensor([3.0, 10.0]))
    # Sample std (n - 1) of 0, 2, 4, 6: sqrt(20 / 3).
    torch.testing.assert_close(std, torch.tensor([(20 / 3) ** 0.5, 0.0]))


def test_to_device_dataset_normalises_with_the_training_sets_stats():
    train_arrays, test_arrays = learnable_arrays(seed=1), learnable_arrays(n=50, seed=2)
    x, y = to_device_dataset(train_arrays, "cpu")
    assert x.dtype == torch.float32 and x.shape == (400, 1, 8, 8)
    assert torch.equal(y, train_arrays.labels)
    # float32 data and float32 sums over 25,600 values: 3.5e-8 and 0 off measured, on AVX-512, AVX2
    # and SSE kernels; 1e-5 leaves 100x for other summation orders.
    assert abs(x.mean().item()) < 1e-5 and x.std().item() == pytest.approx(1.0, abs=1e-5)
    # The test set uses the training set's mean and std, computed here by hand.
    pixels = train_arrays.images.double()
    mean, std = pixels.mean(), pixels.std()
    xt, _ = to_device_dataset(test_arrays, "cpu", stats_from=train_arrays)
    # x is float32, from float32 stats: 3.3e-7 off (values up to 4.2) measured on AVX-512, AVX2 and
    # SSE kernels, within the default float32 tolerance (atol 1e-5, rtol 1.3e-6).
    torch.testing.assert_close(xt, ((test_arrays.images.double() - mean) / std).float())


def test_to_device_dataset_refuses_float_images():
    class NotUint8:
        images = torch.zeros(2, 1, 4, 4)

    with pytest.raises(AlexNetError, match="uint8"):
        to_device_dataset(NotUint8(), "cpu")


def test_training_learns_well_below_chance():
    torch.manual_seed(0)
    train = to_device_dataset(learnable_arrays(), "cpu")
    model = CifarNet("relu", in_channels=1, image_size=8)
    history = train_resident(model, train, epochs=4, lr=0.1, batch_size=32, val=train,
                             progress=False)
    assert len(history.train_error) == len(history.val_error) == len(history.seconds) == 4
    assert history.train_error[0] > history.train_error[-1]
    assert history.train_error[-1] < 0.3  # chance: 0.9
    assert history.val_error[-1] < 0.2
    assert history.train_loss[-1] < history.train_loss[0]


def test_two_runs_with_the_same_seed_give_identical_histories():
    train = to_device_dataset(learnable_arrays(n=200), "cpu")
    runs = []
    for _ in range(2):
        torch.manual_seed(3)
        model = CifarNet("tanh", in_channels=1, image_size=8)
        runs.append(train_resident(model, train, epochs=2, lr=0.02, batch_size=32, val=train,
                                   progress=False))
    first, second = runs
    assert first.train_error == second.train_error
    assert first.train_loss == second.train_loss
    assert first.val_error == second.val_error


class IndexRecorder(nn.Module):
    """Each image is one value, its own index; the model writes down the indices it is fed."""

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(2))
        self.batches = []

    def forward(self, x):
        self.batches.append(x.flatten().long().tolist())
        return self.weight.expand(len(x), 2)


def test_every_example_once_per_epoch_in_a_new_order():
    n, batch_size = 70, 32
    images = torch.arange(n, dtype=torch.float32).view(n, 1, 1, 1)
    train = (images, torch.zeros(n, dtype=torch.int64))
    model = IndexRecorder()
    train_resident(model, train, epochs=3, lr=0.1, batch_size=batch_size, progress=False)
    assert [len(b) for b in model.batches] == [32, 32, 6] * 3  # the last batch holds the rest
    epochs = [sum(model.batches[i:i + 3], []) for i in range(0, 9, 3)]
    for order in epochs:
        assert sorted(order) == list(range(n))  # each example exactly once
    assert epochs[0] != epochs[1] != epochs[2]  # reshuffled every epoch
    assert epochs[0] != list(range(n))


def test_augment_gets_every_batch_and_the_net_learns_from_what_it_returns():
    n = 70
    images = torch.arange(n, dtype=torch.float32).view(n, 1, 1, 1)
    train = (images, torch.zeros(n, dtype=torch.int64))
    runs = []
    for _ in range(2):
        seen = []

        def augment(x, generator):  # a random sign per image, drawn from the run's generator
            seen.append(x.flatten().long().tolist())
            signs = torch.randint(0, 2, (len(x), 1, 1, 1), generator=generator) * 2 - 1
            return x * signs - 1000

        model = IndexRecorder()
        train_resident(model, train, epochs=2, lr=0.1, batch_size=32, progress=False, augment=augment)
        for epoch in (seen[:3], seen[3:]):
            assert sorted(sum(epoch, [])) == list(range(n))  # augment saw each example once
        fed = [[abs(v + 1000) for v in batch] for batch in model.batches]
        assert fed == seen  # the net got augment's output, image by image
        assert any(v > -1000 for batch in model.batches for v in batch)  # some signs flipped
        runs.append(model.batches)
    assert runs[0] == runs[1]  # the draws come from the seeded generator: the run repeats


def test_a_diverging_run_stops_and_counts_nan_scores_as_mistakes():
    train = to_device_dataset(learnable_arrays(n=64), "cpu")
    torch.manual_seed(0)
    model = CifarNet("relu", in_channels=1, image_size=8)
    history = train_resident(model, train, epochs=5, lr=1e6, batch_size=16, progress=False)
    assert len(history.train_error) < 5
    assert history.train_loss[-1] != history.train_loss[-1]  # NaN
    assert history.train_error[-1] > 0.7


@pytest.mark.parametrize("threshold, expected", [
    (0.9, 1.0),  # the first epoch already reaches it
    (0.5, 2.0),  # exactly at the end of epoch 2
    (0.35, 2.5),  # halfway from epoch 2 (0.5) to epoch 3 (0.2)
    (0.2, 3.0),
    (0.1, None),  # never
])
def test_epochs_to_reach_interpolates_between_epoch_ends(threshold, expected):
    reached = epochs_to_reach(History(train_error=[0.8, 0.5, 0.2]), threshold)
    assert reached == (pytest.approx(expected) if expected is not None else None)


def test_epochs_to_reach_takes_the_first_crossing():
    # Down to 0.3 in epoch 2, back up, down again: the first crossing of 0.4 counts.
    history = History(train_error=[0.6, 0.3, 0.5, 0.2])
    assert epochs_to_reach(history, 0.4) == pytest.approx(1 + (0.6 - 0.4) / (0.6 - 0.3))
    assert epochs_to_reach(History(), 0.5) is None


def test_lr_sweep_starts_every_rate_from_the_same_weights_and_picks_the_fastest():
    train = to_device_dataset(learnable_arrays(), "cpu")
    built = []

    def make_model():
        built.append(CifarNet("relu", in_channels=1, image_size=8))
        built[-1].initial = [p.detach().clone() for p in built[-1].parameters()]
        return built[-1]

    sweep = lr_sweep(make_model, train, [0.0, 0.1], epochs=3, batch_size=32, progress=False)
    assert list(sweep) == [0.0, 0.1]
    assert all(torch.equal(a, b) for a, b in zip(built[0].initial, built[1].initial))
    assert min(sweep[0.0].train_error) > 0.8  # lr 0 learns nothing: chance is 0.9
    assert sweep[0.1].train_error[-1] < 0.5
    assert fastest_lr(sweep, threshold=0.5) == 0.1


def test_fastest_lr_prefers_fewer_epochs_then_lower_final_error():
    sweep = {
        0.1: History(train_error=[0.6, 0.3]),  # reaches 0.4 after 1.67 epochs
        0.2: History(train_error=[0.5, 0.1]),  # after 1.25 epochs: fastest
        0.3: History(train_error=[0.9, 0.8]),  # never
    }
    assert fastest_lr(sweep, 0.4) == 0.2
    assert fastest_lr(sweep, 0.05) == 0.2  # none reaches it: lowest final error
