"""Tests of alexnet_lib.models against the paper's layer sizes, worked through by hand layer by layer."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from alexnet_lib.dropout import PaperDropout
from alexnet_lib.errors import AlexNetError
from alexnet_lib.layers import LocalResponseNorm
from alexnet_lib.models import (
    AlexNet,
    CifarNet,
    OneGPUAlexNet,
    SmallAlexNet,
    TwoTowerAlexNet,
    count_parameters,
    format_layer_table,
    init_2012_code_,
    init_caffe_,
    init_paper_,
    init_pytorch_,
    layer_table,
)
from alexnet_lib.models.size import LayerRow

# §3.5, in the paper's words: "96 kernels of size 11x11x3 with a stride of 4 pixels", "256 kernels of
# size 5x5x48", "384 kernels of size 3x3x256", "384 kernels of size 3x3x192", "256 kernels of size
# 3x3x192", max-pooling (§3.4: 3x3, stride 2) after conv1, conv2 and conv5, then "4096 neurons each"
# and a 1000-way softmax. (kernels, kernel side, depth each kernel sees, stride, padding, pooled after).
# The paper states no padding: conv1's 2 turns 224 into its 55 (AlexNet's docstring: 224 vs 227);
# conv2..5 keep the size of their input.
PAPER_CONVS = {
    "conv1": (96, 11, 3, 4, 2, True),
    "conv2": (256, 5, 48, 1, 2, True),
    "conv3": (384, 3, 256, 1, 1, False),
    "conv4": (384, 3, 192, 1, 1, False),
    "conv5": (256, 3, 192, 1, 1, True),
}
PAPER_FCS = {"fc6": 4096, "fc7": 4096, "fc8": 1000}


def paper_rows(side: int = 224, depth: int = 3) -> list[LayerRow]:
    """Each layer's output shape, parameters (weights + one bias per kernel), neurons and multiply-adds
    (an output of a conv sums kernel side x kernel side x depth products, of an fc layer one per
    input), from the sizes above alone."""
    rows = []
    for name, (kernels, k, seen, stride, pad, pooled) in PAPER_CONVS.items():
        side, depth = (side + 2 * pad - k) // stride + 1, kernels
        neurons, fan_in = kernels * side * side, k * k * seen
        rows.append(LayerRow(name, (kernels, side, side), kernels * (fan_in + 1), neurons, neurons * fan_in))
        if pooled:
            side = (side - 3) // 2 + 1
            rows.append(LayerRow(f"pool{name[-1]}", (kernels, side, side), 0, 0, 0))
    inputs = depth * side * side
    for name, neurons in PAPER_FCS.items():
        rows.append(LayerRow(name, (neurons,), neurons * (inputs + 1), neurons, neurons * inputs))
        inputs = neurons
    return rows


PAPER = {row.name: row for row in paper_rows()}
PAPER_PARAMS = sum(row.params for row in PAPER.values())


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return AlexNet(1000)


def test_the_hand_worked_sizes_are_the_papers_own_counts():
    # §3.5: "the number of neurons in the network's remaining layers is given by 253,440-186,624-
    # 64,896-64,896-43,264-4096-4096-1000". Its first number fits no square map of 96 kernels
    # (253,440 / 96 = 2,640 is not a square; 55 x 55 x 96 = 290,400); every other one is worked out above.
    neurons = [row.neurons for row in PAPER.values() if row.neurons]
    assert neurons[1:] == [186_624, 64_896, 64_896, 43_264, 4096, 4096, 1000]
    # Abstract: "60 million parameters and 650,000 neurons".
    assert PAPER_PARAMS == pytest.approx(60e6, rel=0.02)
    assert sum(neurons) == pytest.approx(650_000, rel=0.02)
    assert PAPER["pool5"].output_shape == (256, 6, 6)  # fc6 sees 6 x 6 x 256 = 9216 values


def test_the_nets_parameters_are_the_papers_layer_by_layer(model):
    assert sum(p.numel() for p in model.parameters()) == PAPER_PARAMS
    layers = {**dict(model.features.named_children()), **dict(model.classifier.named_children())}
    for name, row in PAPER.items():
        assert sum(p.numel() for p in layers[name].parameters()) == row.params, name


def test_the_nets_forward_pass_gives_the_papers_shapes(model):
    shapes = {}
    layers = [*model.features.named_children(), *model.classifier.named_children()]
    hooks = [layer.register_forward_hook(lambda m, i, out, name=name: shapes.update({name: tuple(out.shape)}))
             for name, layer in layers if name in PAPER]
    with torch.no_grad():
        model.eval()(torch.zeros(2, 3, 224, 224))
    for hook in hooks:
        hook.remove()
    assert shapes == {name: (2, *row.output_shape) for name, row in PAPER.items()}


def test_layer_table_is_the_papers_layer_by_layer(model):
    assert layer_table(model, 224) == list(PAPER.values())  # conv, pool and fc rows in the order they run


def test_format_layer_table_is_aligned_with_separated_totals(model):
    text = format_layer_table(layer_table(model))
    lines = text.splitlines()
    assert len({len(line) for line in lines}) == 1  # every line as wide: columns line up
    totals = [sum(getattr(row, column) for row in PAPER.values()) for column in ("params", "neurons", "mult_adds")]
    assert lines[-1].split() == ["total", *(f"{total:,}" for total in totals)]
    assert "256x6x6" in text


def test_wrong_input_size_raises_clear_error(model):
    with pytest.raises(AlexNetError, match="224x224"):
        model(torch.zeros(1, 3, 160, 160))


def test_paper_init_std_0_01_and_biases_one_in_conv2_conv4_conv5_fc6_fc7(model):
    layers = {**dict(model.features.named_children()), **dict(model.classifier.named_children())}
    for name in ["conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8"]:
        weight, bias = layers[name].weight, layers[name].bias
        # std of n normal samples has standard error 0.01 / sqrt(2n) < 4e-5 here; allow 3%.
        assert weight.std().item() == pytest.approx(0.01, rel=0.03), name
        assert abs(weight.mean().item()) < 5e-4, name  # ~10 standard errors for conv1's 34,848
        expected = 1.0 if name in {"conv2", "conv4", "conv5", "fc6", "fc7"} else 0.0
        assert (bias == expected).all(), name


def test_init_paper_resets_a_model_in_place():
    net = nn.Sequential(nn.Linear(500, 400))
    nn.init.constant_(net[0].weight, 3.0)
    nn.init.constant_(net[0].bias, 3.0)
    assert init_paper_(net) is net
    assert net[0].weight.std().item() == pytest.approx(0.01, rel=0.03)
    assert (net[0].bias == 0).all()  # "0" is not a bias-one layer name


def test_2012_code_init_std_0_03_in_conv3_conv4_conv5_else_the_papers():
    # layers-145.cfg (cuda-convnet, 2012): initW=0.03 for conv3-5, 0.01 elsewhere; biases as §5.
    torch.manual_seed(0)
    net = AlexNet(1000)
    nn.init.constant_(net.features.conv4.bias, 5.0)  # overwritten: a full reset, not a patch
    assert init_2012_code_(net) is net
    layers = {**dict(net.features.named_children()), **dict(net.classifier.named_children())}
    for name in ["conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8"]:
        weight, bias = layers[name].weight, layers[name].bias
        std = 0.03 if name in {"conv3", "conv4", "conv5"} else 0.01
        assert weight.std().item() == pytest.approx(std, rel=0.03), name
        assert abs(weight.mean().item()) < 0.05 * std, name
        expected = 1.0 if name in {"conv2", "conv4", "conv5", "fc6", "fc7"} else 0.0
        assert (bias == expected).all(), name


def test_caffe_init_fc6_fc7_std_0_005_and_biases_0_1_where_the_paper_has_1():
    # bvlc_alexnet's train_val.prototxt: gaussian std 0.01, fc6/fc7 0.005; bias 0.1 in conv2/4/5, fc6/7.
    torch.manual_seed(0)
    net = init_caffe_(AlexNet(1000))
    layers = {**dict(net.features.named_children()), **dict(net.classifier.named_children())}
    for name in ["conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8"]:
        std = 0.005 if name in {"fc6", "fc7"} else 0.01
        assert layers[name].weight.std().item() == pytest.approx(std, rel=0.03), name
        expected = 0.1 if name in {"conv2", "conv4", "conv5", "fc6", "fc7"} else 0.0
        assert torch.allclose(layers[name].bias, torch.full_like(layers[name].bias, expected)), name


def test_pytorch_init_is_each_layers_own_reset():
    net = nn.Sequential(nn.Conv2d(3, 8, 5), nn.Linear(300, 20))
    for p in net.parameters():
        nn.init.constant_(p, 7.0)
    torch.manual_seed(0)
    assert init_pytorch_(net) is net
    torch.manual_seed(0)
    fresh = nn.Sequential(nn.Conv2d(3, 8, 5), nn.Linear(300, 20))  # construction draws the same way
    assert all(torch.equal(a, b) for a, b in zip(net.parameters(), fresh.parameters()))
    # uniform within 1/sqrt(fan-in): 75 for the conv, 300 for the linear layer
    assert net[0].weight.abs().max() <= 75 ** -0.5 and net[1].weight.abs().max() <= 300 ** -0.5


def test_conv2_two_towers_see_48_input_maps_each(model):
    conv2 = model.features.conv2
    assert conv2.weight.shape == (256, 48, 5, 5)
    assert model.features.conv3.weight.shape == (384, 256, 3, 3)  # conv3 sees both towers
    torch.manual_seed(1)
    x = torch.randn(1, 96, 27, 27)
    perturbed = x.clone()
    perturbed[:, 48:] += torch.randn(1, 48, 27, 27)
    with torch.no_grad():
        before, after = conv2(x), conv2(perturbed)
    assert torch.equal(before[:, :128], after[:, :128])  # tower 1 never sees maps 48..95
    assert not torch.allclose(before[:, 128:], after[:, 128:])  # tower 2 does


def test_single_tower_conv2_sees_all_96_maps():
    torch.manual_seed(0)
    conv2 = AlexNet(groups=1).features.conv2
    assert conv2.weight.shape == (256, 96, 5, 5)
    x = torch.randn(1, 96, 27, 27)
    perturbed = x.clone()
    perturbed[:, 48:] += 1.0
    with torch.no_grad():
        assert not torch.allclose(conv2(x)[:, :128], conv2(perturbed)[:, :128])


def test_forward_batch_of_2_gives_each_image_its_own_logits():
    torch.manual_seed(0)
    net = fan_in_init_(AlexNet(num_classes=10)).eval()
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        out, alone = net(x), torch.cat([net(x[:1]), net(x[1:])])
    assert out.shape == (2, 10)
    assert (out[0] - out[1]).abs().max() > 0.1  # the logits depend on the image...
    # ...and on it alone: a batch of one gives the same. float32 kernels for other batch sizes sum in
    # other orders (2.4e-7 apart measured, logits near 1); the default tolerance (1e-5) is 40x that.
    torch.testing.assert_close(out, alone)


def test_single_tower_net_has_conv2_conv4_conv5_weights_doubled():
    # One tower: conv2, conv4, conv5 kernels see all 96 / 384 / 384 input maps, twice the weights.
    extra = 256 * 48 * 5 * 5 + 384 * 192 * 3 * 3 + 256 * 192 * 3 * 3  # 1,413,120
    assert count_parameters(AlexNet(groups=1)) == PAPER_PARAMS + extra


@pytest.mark.parametrize(
    "kwargs", [dict(groups=1), dict(lrn=False), dict(overlap=False), dict(dropout=0.0)], ids=str
)
def test_ablation_variants_build_and_keep_6x6_at_fc6(kwargs):
    torch.manual_seed(0)
    net = AlexNet(10, **kwargs).eval()
    rows = {row.name: row for row in layer_table(net)}
    # Also for 2x2/2 pools: 55 -> 27 -> 13 -> 6, the same sizes as the 3x3/2 pools.
    assert [rows[p].output_shape[1] for p in ("pool1", "pool2", "pool5")] == [27, 13, 6]
    assert net(torch.randn(2, 3, 224, 224)).shape == (2, 10)


def test_ablation_switches_remove_the_layers():
    net = AlexNet(lrn=False, overlap=False, dropout=0.0)
    assert isinstance(net.features.lrn1, nn.Identity) and isinstance(net.features.lrn2, nn.Identity)
    assert net.features.pool1.kernel_size == 2 and net.features.pool1.stride == 2
    assert isinstance(net.classifier.drop6, nn.Identity)


def test_bad_groups_is_refused():
    with pytest.raises(AlexNetError, match="groups=3"):
        AlexNet(groups=3)
    with pytest.raises(AlexNetError, match="lrn_groups=3"):
        AlexNet(lrn_groups=3)


def test_lrn_normalises_within_each_tower_by_default(model):
    towers = model.features  # the paper net: LRN within each of its two towers, as each GPU did
    assert towers.lrn1.groups == 2 and towers.lrn2.groups == 2
    across = AlexNet(lrn_groups=1).features  # the one-device reading: across all maps
    assert AlexNet(groups=1).features.lrn1.groups == 1  # one tower: nothing to split
    # conv1's 96 maps: a change in tower 2's maps leaves tower 1's normalised maps alone.
    torch.manual_seed(3)
    a = torch.randn(1, 96, 5, 5).relu() * 50
    perturbed = a.clone()
    perturbed[:, 48:] *= 3
    assert torch.equal(towers.lrn1(a)[:, :48], towers.lrn1(perturbed)[:, :48])
    assert not torch.equal(across.lrn1(a)[:, :48], across.lrn1(perturbed)[:, :48])


def test_eval_mode_is_deterministic_and_train_mode_drops_out(model):
    torch.manual_seed(2)
    x = torch.randn(2, 3, 224, 224)
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(x), model(x))
        model.train()
        # Bias 1 keeps fc6/fc7 units active, so dropping half of them changes the logits.
        assert not torch.equal(model(x), model(x))
    model.eval()


# §3.2 footnote: the one-GPU net, by hand. Half the kernels in conv1..conv4, one tower, conv5 and
# the fully-connected layers as in the two-GPU net.
ONE_GPU_PARAMS = {
    "conv1": 48 * 3 * 11 * 11 + 48,  # 17,472
    "conv2": 128 * 48 * 5 * 5 + 128,  # 153,728: sees all 48 conv1 maps
    "conv3": 192 * 128 * 3 * 3 + 192,  # 221,376
    "conv4": 192 * 192 * 3 * 3 + 192,  # 331,968
    "conv5": 256 * 192 * 3 * 3 + 256,  # 442,624: 256 kernels kept, as in the two-GPU net
    "fc6": 256 * 6 * 6 * 4096 + 4096,  # 37,752,832
    "fc7": 4096 * 4096 + 4096,  # 16,781,312
    "fc8": 4096 * 1000 + 1000,  # 4,097,000
}


def test_one_gpu_net_param_count_matches_hand_count():
    net = OneGPUAlexNet()
    assert count_parameters(net) == sum(ONE_GPU_PARAMS.values())
    rows = {row.name: row for row in layer_table(net)}
    for name, params in ONE_GPU_PARAMS.items():
        assert rows[name].params == params, name
    assert [rows[n].output_shape[0] for n in ("conv1", "conv2", "conv3", "conv4", "conv5")] == [
        48, 128, 192, 192, 256]
    assert rows["pool5"].output_shape == (256, 6, 6)
    assert net.features.conv2.groups == 1 and net.features.lrn1.groups == 1


def test_one_gpu_net_keeps_alexnets_knobs():
    net = OneGPUAlexNet(10, lrn=False, overlap=False, dropout=0.0).eval()
    assert isinstance(net.features.lrn1, nn.Identity) and net.features.pool1.kernel_size == 2
    assert net(torch.randn(1, 3, 224, 224)).shape == (1, 10)


def test_two_tower_net_has_the_papers_parameter_count():
    assert count_parameters(TwoTowerAlexNet()) == PAPER_PARAMS


def fan_in_init_(model):
    """Weights large enough that the input still matters at the logits (N(0, 0.01) fades it)."""
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(module.weight)
            nn.init.normal_(module.bias, std=0.1)
    return model


@pytest.fixture(scope="module")
def grouped_and_towers():
    # float64: in float32 the two nets' sums round differently, so ReLU and max-pool can route a
    # gradient another way (conv1's off by 0.45% on an AVX2 CPU); in float64 they agree to ~1e-15.
    torch.manual_seed(0)
    grouped = fan_in_init_(AlexNet(10, dropout=0.0))  # the paper net's defaults: 2 towers, LRN in each
    towers = TwoTowerAlexNet.from_grouped(grouped, devices=("cpu", "cpu"))
    return grouped.double(), towers.double()  # split first: the towers' layers are float32


def test_two_tower_from_grouped_computes_the_same_function(grouped_and_towers):
    grouped, towers = grouped_and_towers
    grouped.eval(), towers.eval()
    torch.manual_seed(1)
    x = torch.randn(3, 3, 224, 224).double()
    with torch.no_grad():
        expected, out = grouped(x), towers(x)
    assert out.shape == (3, 10)
    assert isinstance(towers.fc7[1].drop7, nn.Identity)  # the grouped net's dropout 0, copied
    assert (expected[0] - expected[1]).abs().max() > 0.1  # the logits really depend on the image
    torch.testing.assert_close(out, expected, rtol=1e-10, atol=1e-12)


def test_two_tower_gradients_equal_the_grouped_nets(grouped_and_towers):
    # Training the split net is training the grouped net: the same gradients, split by tower.
    grouped, towers = grouped_and_towers  # built with dropout 0, so train mode is deterministic
    grouped.train(), towers.train()
    grouped.zero_grad(), towers.zero_grad()
    torch.manual_seed(2)
    x, y = torch.randn(1, 3, 224, 224).double(), torch.tensor([3])
    F.cross_entropy(grouped(x), y).backward()
    F.cross_entropy(towers(x), y).backward()
    for t in range(2):
        conv1, conv3 = towers.conv1_2[t].conv1, towers.conv3_5[t].conv3
        for mine, theirs in ((conv1, grouped.features.conv1), (conv3, grouped.features.conv3)):
            torch.testing.assert_close(mine.weight.grad, theirs.weight.grad.chunk(2)[t],
                                       rtol=1e-10, atol=1e-12)
        fc6 = towers.fc6[t].fc6
        torch.testing.assert_close(fc6.bias.grad, grouped.classifier.fc6.bias.grad.chunk(2)[t],
                                   rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(towers.fc8.weight.grad, grouped.classifier.fc8.weight.grad,
                               rtol=1e-10, atol=1e-12)


def test_two_tower_layout_kernels_per_tower_and_devices():
    net = TwoTowerAlexNet(devices=("cpu", torch.device("cpu")), num_classes=7)
    assert net.devices == (torch.device("cpu"), torch.device("cpu"))
    for t in range(2):
        convs = {**dict(net.conv1_2[t].named_children()), **dict(net.conv3_5[t].named_children())}
        assert [convs[f"conv{i}"].out_channels for i in range(1, 6)] == [48, 128, 192, 192, 128]
        assert convs["conv3"].in_channels == 256  # both towers' conv2 maps
        assert convs["conv4"].in_channels == 192  # its own tower's conv3 maps only
        assert net.fc6[t].fc6.in_features == 9216 and net.fc6[t].fc6.out_features == 2048
        assert net.fc7[t].fc7.in_features == 4096
    assert net.fc8.in_features == 4096 and net.fc8.out_features == 7
    # The paper's init: bias 1 in conv2, conv4, conv5, fc6, fc7 of both towers.
    assert (net.conv1_2[1].conv2.bias == 1).all() and (net.fc7[0].fc7.bias == 1).all()
    assert (net.conv3_5[0].conv3.bias == 0).all()
    assert net.fc6[0].drop6.p == 0.5


def test_two_tower_refuses_cross_tower_lrn_and_wrong_devices():
    with pytest.raises(AlexNetError, match="lrn_groups=2"):
        TwoTowerAlexNet.from_grouped(AlexNet(lrn_groups=1))  # LRN across all 96 maps: not two towers
    with pytest.raises(AlexNetError, match="lrn_groups=2"):
        TwoTowerAlexNet.from_grouped(AlexNet(groups=1, lrn_groups=2))
    with pytest.raises(AlexNetError, match="two devices"):
        TwoTowerAlexNet(devices=("cpu",))


# §4.2 dropout: the paper's rule by default, PyTorch's inverted dropout as a named option.
def test_default_dropout_is_the_papers_rule_in_fc6_and_fc7():
    for net in (AlexNet(10), OneGPUAlexNet(10)):
        assert net.dropout_rule == "paper"
        for drop in (net.classifier.drop6, net.classifier.drop7):
            assert type(drop) is PaperDropout and drop.p == 0.5
    inverted = AlexNet(10, dropout_rule="inverted", dropout=0.3).classifier
    assert type(inverted.drop6) is nn.Dropout and inverted.drop7.p == 0.3


@pytest.mark.parametrize("rule, layer", [("paper", PaperDropout), ("inverted", nn.Dropout)])
def test_two_tower_from_grouped_keeps_the_dropout_rule(rule, layer):
    grouped = AlexNet(10, groups=2, lrn_groups=2, dropout_rule=rule)
    towers = TwoTowerAlexNet.from_grouped(grouped)
    assert towers.dropout_rule == rule
    for t in range(2):
        assert type(towers.fc6[t].drop6) is layer and towers.fc7[t].drop7.p == 0.5


def test_paper_rule_net_equals_inverted_net_with_fc7_fc8_weights_halved():
    # §4.2's "multiply their outputs by 0.5" moved into the next layer's weights: nn.Dropout (torch's
    # own op) after fc6/fc7, with fc7's and fc8's weights halved by hand, is the same function.
    # In float64, so that only a real difference, not float32 rounding, could exceed 1e-10.
    torch.manual_seed(0)
    paper = fan_in_init_(AlexNet(10, widths=(16, 32, 32, 32, 32))).double()
    inverted = AlexNet(10, widths=(16, 32, 32, 32, 32), dropout_rule="inverted").double()
    inverted.load_state_dict(paper.state_dict())
    with torch.no_grad():
        inverted.classifier.fc7.weight.mul_(0.5)
        inverted.classifier.fc8.weight.mul_(0.5)
    x = torch.randn(4, 3, 224, 224).double()
    with torch.no_grad():
        paper_test, inverted_test = paper.eval()(x), inverted.eval()(x)
        assert (paper_test[0] - paper_test[1]).abs().max() > 0.1  # the logits depend on the image
        torch.testing.assert_close(paper_test, inverted_test, rtol=1e-10, atol=1e-12)
        # Training mode, the same seed, so the same masks: the same outputs as well.
        torch.manual_seed(1)
        paper_train = paper.train()(x)
        torch.manual_seed(1)
        inverted_train = inverted.train()(x)
        torch.testing.assert_close(paper_train, inverted_train, rtol=1e-10, atol=1e-12)
        assert not torch.allclose(paper_train, paper_test, atol=1e-3)  # units really were dropped


@pytest.mark.parametrize("build", [
    lambda: AlexNet(dropout_rule="Inverted"),
    lambda: OneGPUAlexNet(dropout_rule="gaussian"),
    lambda: TwoTowerAlexNet(dropout_rule="torch"),
], ids=["AlexNet", "OneGPUAlexNet", "TwoTowerAlexNet"])
def test_unknown_dropout_rule_is_refused_naming_the_valid_ones(build):
    with pytest.raises(AlexNetError, match="dropout_rule=.*'paper'.*'inverted'"):
        build()


# The four-layer net of Figure 1 (cuda-convnet layers-18pct), by hand.
CIFAR_PARAMS = {
    "conv1": 32 * 3 * 5 * 5 + 32,  # 2,432
    "conv2": 32 * 32 * 5 * 5 + 32,  # 25,632
    "conv3": 64 * 32 * 5 * 5 + 64,  # 51,264
    "fc": 64 * 4 * 4 * 10 + 10,  # 10,250: 32 -> 16 -> 8 -> 4
}


def pool_sizes(net, x):
    sizes = []
    hooks = [m.register_forward_hook(lambda m, i, o: sizes.append(o.shape[-1]))
             for m in net.modules() if isinstance(m, (nn.MaxPool2d, nn.AvgPool2d))]
    net(x)
    for hook in hooks:
        hook.remove()
    return sizes


def test_cifar_net_sizes_round_up_like_cuda_convnet():
    # 1 + ceil((32 - 3) / 2) = 16, 1 + ceil(13 / 2) = 8, 1 + ceil(5 / 2) = 4.
    assert pool_sizes(CifarNet(), torch.zeros(2, 3, 32, 32)) == [16, 8, 4]
    # Fashion-MNIST: 1 + ceil(25 / 2) = 14, 1 + ceil(11 / 2) = 7, 1 + ceil(4 / 2) = 3.
    net = CifarNet(in_channels=1, image_size=28)
    assert pool_sizes(net, torch.zeros(2, 1, 28, 28)) == [14, 7, 3]
    assert net.fc.in_features == 64 * 3 * 3
    assert net(torch.zeros(2, 1, 28, 28)).shape == (2, 10)


def test_cifar_net_param_count_matches_hand_count():
    assert count_parameters(CifarNet()) == sum(CIFAR_PARAMS.values())
    one_channel = sum(CIFAR_PARAMS.values()) - 32 * 2 * 5 * 5 - 64 * 7 * 10  # 1 input map, 3x3 fc
    assert count_parameters(CifarNet(in_channels=1, image_size=28)) == one_channel


def test_cifar_net_layer_order_and_activation_after_every_conv():
    assert list(CifarNet().features._modules) == [
        "conv1", "act1", "lrn1", "pool1",
        "conv2", "act2", "lrn2", "pool2",
        "conv3", "act3", "pool3",
    ]
    kinds = [type(m).__name__ for m in CifarNet("tanh").features]
    assert kinds == ["Conv2d", "Tanh", "Identity", "MaxPool2d", "Conv2d", "Tanh", "Identity",
                     "AvgPool2d", "Conv2d", "Tanh", "AvgPool2d"]
    assert isinstance(CifarNet("relu").features.act2, nn.ReLU)


def test_cifar_net_ceil_pools_equal_explicit_edge_handling():
    torch.manual_seed(4)
    x = torch.randn(1, 2, 8, 8).double()  # float64: the pools and the references sum in other orders
    # Max: an overhanging window is a window over a -inf border.
    padded = F.pad(x, (0, 1, 0, 1), value=float("-inf"))
    torch.testing.assert_close(CifarNet().features.pool1(x), F.max_pool2d(padded, 3, 2))
    # Average: the last window covers rows/columns 6..7 only and averages those pixels.
    avg = CifarNet().features.pool2(x)
    assert avg.shape[-1] == 4
    torch.testing.assert_close(avg[..., 3, 3], x[..., 6:8, 6:8].mean((-2, -1)), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(avg[..., 0, 3], x[..., 0:3, 6:8].mean((-2, -1)), rtol=1e-12, atol=1e-12)


def test_cifar_net_relu_and_tanh_start_from_the_same_weights():
    torch.manual_seed(5)
    relu = CifarNet("relu").state_dict()
    torch.manual_seed(5)
    tanh = CifarNet("tanh").state_dict()
    assert relu.keys() == tanh.keys()
    assert all(torch.equal(relu[k], tanh[k]) for k in relu)


def test_cifar_net_unknown_activation_lists_the_choices():
    with pytest.raises(AlexNetError, match="'sigmoid'.*relu, tanh"):
        CifarNet("sigmoid")


def test_cifar_net_lrn_flag_adds_papers_lrn_after_the_first_two_activations():
    net = CifarNet(lrn=True)
    for name in ("lrn1", "lrn2"):
        lrn = getattr(net.features, name)
        assert isinstance(lrn, LocalResponseNorm)
        assert (lrn.size, lrn.alpha, lrn.beta, lrn.k, lrn.groups) == (5, 1e-4, 0.75, 2.0, 1)
    torch.manual_seed(6)
    plain = CifarNet()
    plain.load_state_dict(net.state_dict())  # LRN has no parameters: same weights
    x = torch.randn(2, 3, 32, 32) * 40
    assert not torch.allclose(net(x), plain(x))


def test_cifar_net_pool_size_2_and_3_give_equal_sizes_on_32x32():
    # Paper §3.4: z = 3, s = 2 and z = s = 2 give outputs of the same dimensions.
    # By hand, rounding up: 1 + ceil((32 - 3) / 2) = 16 = 1 + ceil((32 - 2) / 2), then 8, then 4.
    overlapping, plain = CifarNet(pool_size=3), CifarNet(pool_size=2)
    x = torch.zeros(2, 3, 32, 32)
    assert pool_sizes(overlapping, x) == pool_sizes(plain, x) == [16, 8, 4]
    assert count_parameters(overlapping) == count_parameters(plain) == sum(CIFAR_PARAMS.values())
    assert [m.kernel_size for m in (plain.features.pool1, plain.features.pool2, plain.features.pool3)] == [2, 2, 2]
    assert all(m.stride == 2 for m in (plain.features.pool1, plain.features.pool2, plain.features.pool3))
    # On 28x28 the last 2x2 window hangs over by one pixel: 7 -> 1 + ceil(5 / 2) = 4, not 3.
    net = CifarNet(in_channels=1, image_size=28, pool_size=2)
    assert pool_sizes(net, torch.zeros(2, 1, 28, 28)) == [14, 7, 4]
    assert net.fc.in_features == 64 * 4 * 4


def test_cifar_net_pool_size_below_the_stride_is_refused():
    with pytest.raises(AlexNetError, match="pool_size=1"):
        CifarNet(pool_size=1)


# §7: removing a middle conv layer. Parameters lost, by hand.
REMOVED = {
    "conv2": PAPER["conv2"].params + (384 * 256 * 9 - 384 * 96 * 9),  # conv3 then reads conv1's 96 maps
    "conv3": PAPER["conv3"].params + (384 * 192 * 9 - 384 * 128 * 9),  # conv4 reads 128 maps per tower
    "conv4": PAPER["conv4"].params,  # conv5 reads conv3's 384 maps, as many as conv4 gave it
}


@pytest.mark.parametrize("layer", sorted(REMOVED))
def test_remove_conv_loses_the_hand_counted_parameters(layer):
    net = AlexNet(1000, remove_conv=layer)
    assert count_parameters(net) == PAPER_PARAMS - REMOVED[layer]
    n = layer[-1]
    names = list(net.features._modules)
    assert f"conv{n}" not in names and f"relu{n}" not in names and f"lrn{n}" not in names
    assert {"pool1", "pool2", "pool5"} <= set(names)  # the pools stay: fc6 still sees 6x6 maps
    assert net(torch.zeros(1, 3, 224, 224)).shape == (1, 1000)


def test_remove_conv_refuses_the_first_and_last_layers():
    for layer in ("conv1", "conv5", "conv6"):
        with pytest.raises(AlexNetError, match="remove_conv"):
            AlexNet(10, remove_conv=layer)
        with pytest.raises(AlexNetError, match="remove_conv"):
            SmallAlexNet(remove_conv=layer)


# SmallAlexNet (§7 at Fashion-MNIST size), by hand: 28 -> pool 13 -> pool 6 -> pool 2.
SMALL_PARAMS = {
    "conv1": 24 * 1 * 5 * 5 + 24,  # 624
    "conv2": 64 * 12 * 5 * 5 + 64,  # 19,264: two towers of 12 input maps
    "conv3": 96 * 64 * 3 * 3 + 96,  # 55,392
    "conv4": 96 * 48 * 3 * 3 + 96,  # 41,568
    "conv5": 64 * 48 * 3 * 3 + 64,  # 27,712
    "fc6": 64 * 2 * 2 * 256 + 256,  # 65,792
    "fc7": 256 * 256 + 256,  # 65,792
    "fc8": 256 * 10 + 10,  # 2,570
}


def test_small_alexnet_param_count_and_conv4_ablation_by_hand():
    assert count_parameters(SmallAlexNet()) == sum(SMALL_PARAMS.values())
    assert count_parameters(SmallAlexNet(remove_conv="conv4")) == sum(SMALL_PARAMS.values()) - SMALL_PARAMS["conv4"]
    # On 32x32 RGB images (CIFAR-10): 32 -> 15 -> 7 -> 3, so fc6 reads 64 * 3 * 3 values.
    rgb = SmallAlexNet(in_channels=3, image_size=32)
    assert rgb.classifier.fc6.in_features == 64 * 3 * 3
    assert rgb(torch.zeros(2, 3, 32, 32)).shape == (2, 10)


def test_small_alexnet_has_alexnets_layer_order():
    small, big = SmallAlexNet(), AlexNet(10)
    assert list(small.features._modules) == list(big.features._modules)
    assert list(small.classifier._modules) == list(big.classifier._modules)
    assert small.features.conv4.groups == 2 and small.features.conv3.groups == 1
