"""Paper §3 and §5: AlexNet, its §3 variants, their initialisation, and their size in numbers.

`alexnet` (the paper net, §3.2's one-GPU net, §7's small one), `towers` (the net on two devices),
`cifarnet` (§3.1's small CIFAR-10 net), `init` (§5) and `size` (§1's parameter count, the layer table).
"""

from .alexnet import DROPOUT_RULES, AlexNet, OneGPUAlexNet, SmallAlexNet
from .cifarnet import CifarNet
from .init import BIAS_ONE_LAYERS, CODE_2012_STD, INITIALISATIONS, init_2012_code_, init_caffe_, init_he_, init_paper_, init_pytorch_, signal_at_init
from .size import LayerRow, count_parameters, format_layer_table, layer_table
from .towers import TwoTowerAlexNet

__all__ = ["AlexNet", "BIAS_ONE_LAYERS", "CODE_2012_STD", "CifarNet", "DROPOUT_RULES", "INITIALISATIONS", "LayerRow",
           "OneGPUAlexNet", "SmallAlexNet", "TwoTowerAlexNet", "count_parameters",
           "format_layer_table", "init_2012_code_", "init_caffe_", "init_he_", "init_paper_", "init_pytorch_",
           "layer_table", "signal_at_init"]
