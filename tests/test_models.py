"""Tests of alexnet_lib.models against the paper's counts, computed by hand layer by layer."""

import pytest
import torch
from torch import nn

from alexnet_lib.errors import AlexNetError
from alexnet_lib.models import (
    AlexNet,
    count_parameters,
    format_layer_table,
    init_paper_,
    layer_table,
)

# Per layer, by hand: weights (out x in/groups x kh x kw, or in x out) + one bias per output.
PARAMS = {
    "conv1": 96 * 3 * 11 * 11 + 96,  # 34,944
    "conv2": 256 * 48 * 5 * 5 + 256,  # 307,456: each kernel sees its tower's 48 maps
    "conv3": 384 * 256 * 3 * 3 + 384,  # 885,120: all 256 conv2 maps
    "conv4": 384 * 192 * 3 * 3 + 384,  # 663,936
    "conv5": 256 * 192 * 3 * 3 + 256,  # 442,624
    "fc6": 256 * 6 * 6 * 4096 + 4096,  # 37,752,832
    "fc7": 4096 * 4096 + 4096,  # 16,781,312
    "fc8": 4096 * 1000 + 1000,  # 4,097,000
}
# Output maps for a 224 input: conv1 pads 2 -> 55; pools of 3/2 -> 27, 13, 6.
SHAPES = {
    "conv1": (96, 55, 55), "pool1": (96, 27, 27),
    "conv2": (256, 27, 27), "pool2": (256, 13, 13),
    "conv3": (384, 13, 13), "conv4": (384, 13, 13), "conv5": (256, 13, 13), "pool5": (256, 6, 6),
    "fc6": (4096,), "fc7": (4096,), "fc8": (1000,),
}
NEURONS = {
    "conv1": 55 * 55 * 96, "conv2": 27 * 27 * 256, "conv3": 13 * 13 * 384, "conv4": 13 * 13 * 384,
    "conv5": 13 * 13 * 256, "fc6": 4096, "fc7": 4096, "fc8": 1000,
}
# Each output element multiplies-and-adds in_channels/groups x kh x kw inputs (conv) or in (fc).
MULT_ADDS = {
    "conv1": 55 * 55 * 96 * (3 * 11 * 11),  # 105,415,200
    "conv2": 27 * 27 * 256 * (48 * 5 * 5),  # 223,948,800
    "conv3": 13 * 13 * 384 * (256 * 3 * 3),  # 149,520,384
    "conv4": 13 * 13 * 384 * (192 * 3 * 3),  # 112,140,288
    "conv5": 13 * 13 * 256 * (192 * 3 * 3),  # 74,760,192
    "fc6": 9216 * 4096, "fc7": 4096 * 4096, "fc8": 4096 * 1000,
}


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return AlexNet(1000)


def test_hand_counts_add_up_to_the_papers_totals():
    assert sum(PARAMS.values()) == 60_965_224
    assert sum(NEURONS.values()) == 659_272
    assert sum(MULT_ADDS.values()) == 724_406_816


def test_param_count_is_60_965_224(model):
    assert count_parameters(model) == 60_965_224


def test_layer_table_matches_hand_counts_per_layer(model):
    rows = {row.name: row for row in layer_table(model, 224)}
    assert list(rows) == list(SHAPES)  # conv, pool and fc rows in the order they run
    for name, shape in SHAPES.items():
        row = rows[name]
        assert row.output_shape == shape, name
        assert row.params == PARAMS.get(name, 0), name
        assert row.neurons == NEURONS.get(name, 0), name
        assert row.mult_adds == MULT_ADDS.get(name, 0), name


def test_neurons_659_272_and_mult_adds_724_406_816(model):
    rows = layer_table(model)
    assert sum(r.neurons for r in rows) == 659_272
    assert sum(r.mult_adds for r in rows) == 724_406_816
    assert sum(r.params for r in rows) == 60_965_224


def test_format_layer_table_is_aligned_with_separated_totals(model):
    text = format_layer_table(layer_table(model))
    lines = text.splitlines()
    assert len({len(line) for line in lines}) == 1  # every line as wide: columns line up
    total = lines[-1].split()
    assert total == ["total", "60,965,224", "659,272", "724,406,816"]
    assert "256x6x6" in text


def test_224_input_gives_6x6x256_at_fc6(model):
    assert model.features(torch.zeros(1, 3, 224, 224)).shape == (1, 256, 6, 6)


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


def test_forward_batch_of_2_gives_logits_per_class():
    torch.manual_seed(0)
    out = AlexNet(num_classes=10).eval()(torch.randn(2, 3, 224, 224))
    assert out.shape == (2, 10)
    assert torch.isfinite(out).all()


def test_single_tower_net_has_conv2_conv4_conv5_weights_doubled():
    # One tower: conv2, conv4, conv5 kernels see all 96 / 384 / 384 input maps, twice the weights.
    extra = 256 * 48 * 5 * 5 + 384 * 192 * 3 * 3 + 256 * 192 * 3 * 3  # 1,413,120
    assert count_parameters(AlexNet(groups=1)) == 60_965_224 + extra  # 62,378,344


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
