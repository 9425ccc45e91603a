"""Tests of alexnet_lib.evaluate on hand-built scores whose top-k errors are known, and of a trained
checkpoint's 1-view and 10-view errors against the library's own crops."""


import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from alexnet_lib.augment import ten_crop, ten_crop_predict
from alexnet_lib.errors import AlexNetError
from alexnet_lib.evaluate import CentreCrop, evaluate, evaluate_checkpoint, table2, topk_errors
from alexnet_lib.evaluate import main as evaluate_main
from alexnet_lib.models import AlexNet

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


# --- §6: one view and ten, a checkpoint's table ------------------------------------------------


def test_centre_crop_is_the_mean_subtracted_middle_224_patch():
    images = torch.randint(0, 256, (2, 3, 256, 256), dtype=torch.uint8)
    mean = torch.rand(3, 256, 256) * 255
    seen = CentreCrop(nn.Identity(), mean)(images)
    expected = (images.float() - mean)[:, :, 16:240, 16:240]  # (256 - 224) / 2 = 16 on each side
    assert torch.equal(seen, expected)
    assert torch.equal(seen, ten_crop(images.float() - mean)[2])  # the third of the ten views


class TwoDevices(FixedScores):
    """FixedScores with one more parameter on another device ('meta'), like a two-tower net."""

    def __init__(self):
        super().__init__()
        self.elsewhere = nn.Parameter(torch.empty(3, device="meta"))


def test_evaluate_leaves_a_model_split_over_devices_where_it_is():
    loader = DataLoader(TensorDataset(torch.arange(4), TARGETS), batch_size=2)
    model = TwoDevices()
    assert evaluate(model, loader, device="cpu") == {1: 0.75, 5: 0.25}
    assert model.elsewhere.device.type == "meta" and model.scale.device.type == "cpu"


def test_table2_puts_the_checkpoint_beside_the_paper_and_chance():
    info = {"model": "paper", "epoch": 3, "device": "CPU", "source": "stand-in ImageNet (generated)",
            "images": 100, "classes": 10}
    table = table2({1: {1: 0.5, 5: 0.125}, 10: {1: 0.25, 5: 0.0}}, info).splitlines()
    assert table[0] == "| model | validation data | views | top-1 error | top-5 error |"
    assert "| paper: 1 CNN (Table 2) | ILSVRC-2012, 50,000 images, 1000 classes | not stated | 40.70% | 18.20% |" in table
    assert any("torchvision alexnet" in row and "43.48% | 20.93%" in row for row in table)
    ours = [row for row in table if row.startswith("| this checkpoint")]
    assert ours[0].endswith("| stand-in ImageNet (generated), 100 images, 10 classes | 1 | 50.00% | 12.50% |")
    assert ours[1].endswith("| 10 | 25.00% | 0.00% |")
    assert table[-1] == "| chance | 10 classes | - | 90.00% | 50.00% |"  # 1 - 1/10, 1 - 5/10


@pytest.fixture(scope="module")
def trained_checkpoint(tmp_path_factory):
    """One training step of the paper net on a tiny prepared stand-in (2 train + 1 val per class)."""
    from alexnet_lib.data.prepare import prepare_imagenet
    from alexnet_lib.data.standin import make_standin
    from alexnet_lib.recipe import make_config
    from alexnet_lib.train import train

    root = tmp_path_factory.mktemp("evaluate")
    make_standin(root / "standin", train_per_class=2, val_per_class=1, cifar_train_per_batch=10, cifar_test=10)
    store = prepare_imagenet(root / "standin" / "imagenet", root / "store", workers=1, format="raw",
                             progress=False)
    config = make_config(profile="smoke", data=str(store.path), out=str(root / "run"), batch_size=4,
                         workers=0, progress=False)
    train(config, stop_after=1)
    return root / "run" / "checkpoint.pt", store


def test_evaluate_checkpoint_scores_1_and_10_views_like_the_library(trained_checkpoint):
    path, store = trained_checkpoint
    results, info = evaluate_checkpoint(path, views=(1, 10), batch_size=4, device="cpu")
    # Independently: the saved weights in a fresh net, the val images cut by hand / by ten_crop_predict
    net = AlexNet(10).eval()
    net.load_state_dict(torch.load(path, weights_only=True)["model"])
    split = store.split("val")
    images, labels, mean = split.read(range(len(split))), split.labels, store.stats.mean_image
    with torch.no_grad():
        one_view = net((images.float() - mean)[:, :, 16:240, 16:240])
    assert results[1] == topk_errors(one_view, labels)
    assert results[10] == topk_errors(ten_crop_predict(net, images, mean), labels)
    assert info["images"] == 10 and info["classes"] == 10 and info["step"] == 1
    assert "stand-in" in info["source"]


def test_evaluate_command_line_prints_the_table_and_one_line_errors(trained_checkpoint, tmp_path, capsys):
    path, _ = trained_checkpoint
    evaluate_main(["--checkpoint", str(path), "--views", "1"])
    stdout = capsys.readouterr().out
    assert "| paper: 1 CNN (Table 2) |" in stdout and "| chance | 10 classes |" in stdout
    ours = [row for row in stdout.splitlines() if row.startswith("| this checkpoint")]
    assert len(ours) == 1 and "stand-in ImageNet (generated, NOT real photographs)" in ours[0]
    with pytest.raises(SystemExit) as exit:
        evaluate_main(["--checkpoint", str(tmp_path / "missing.pt")])
    assert str(exit.value.code).startswith("error: No checkpoint at") and "\n" not in str(exit.value.code)
