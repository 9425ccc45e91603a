"""Paper §4-§5: the training recipe: one run's settings (`TrainConfig`), a profile's changes to
them, and the net a run trains (`build_model`).

`TrainConfig`'s defaults are the paper's recipe as the run behind its numbers ran it (the 2012
code): where the printed paper and that code differ, the code's value is the default and the
printed one is a flag away (`CODE_2012_DIFFERENCES`). `make_config` is where a run's settings
resolve: the defaults, a profile's changes (`PROFILE_DEFAULTS`), the flags given, and a resumed
run's stored settings. `alexnet_lib.train` runs a config.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from functools import partial
from pathlib import Path

import torch
from torch import nn

from .config import PROFILES, display_path, get_profile, profile_runs, runs_root
from .errors import AlexNetError
from .models import INITIALISATIONS, AlexNet, OneGPUAlexNet, TwoTowerAlexNet
from .run_folder import load_checkpoint


@dataclass
class TrainConfig:
    """Paper §4-§5: one training run. The defaults are the paper's recipe, as the 2012 code ran it."""

    # What to train on, where to write (None: the profile's prepared store, runs/<profile>/)
    profile: str = "smoke"
    data: str | None = None
    out: str | None = None
    # The net (§3, §4.2, §5)
    model: str = "paper"  # "paper" (AlexNet(): two towers on one device, LRN within each, §3.5),
    # "one-gpu" (§3.2's half-width net), "two-tower" (`TwoTowerAlexNet`, the same function on 2 GPUs),
    # "mini" (not the paper's: its layers at ~1/16 of the widths, to check the pipeline in seconds)
    init: str = "2012-code"  # §5 as the 2012 run did it (conv3-5 from N(0, 0.03)); "paper": N(0, 0.01)
    # everywhere, as printed; "caffe", "pytorch", "he": later practice (`INITIALISATIONS`)
    dropout: float = 0.5
    dropout_rule: str = "paper"  # §4.2's "multiply by 0.5 at test time"; "inverted": nn.Dropout
    remove_conv: str | None = None  # §7's depth ablation: "conv2", "conv3" or "conv4" (paper net only)
    # Learning (§5)
    epochs: int = 90
    batch_size: int = 128
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 0.0005
    schedule: str = "plateau"  # divide by 10 when val error stalls; "2012": after epochs 25, 51, 79
    patience: int = 3  # epochs without improvement before a division (the paper gives none)
    max_drops: int = 3
    lighting: float = 0.1  # §4.1: the standard deviation of the PCA-lighting alphas
    epoch_images: int | None = None  # train on this many images per epoch (None: all of them)
    val_images: int | None = None  # validate on this many images, a fixed random sample (None: all)
    seed: int = 0
    # Speed: the same recipe, executed faster
    bf16: bool | None = None  # autocast to bfloat16; None: on CUDA yes, on the CPU no
    channels_last: bool = True
    compile: bool = False
    workers: int | None = None  # data-reading processes per GPU; None: on CUDA its share of the
    # cores (<= 8), on the CPU 0 (the net needs every core; decoding is ~1% of a CPU step)
    # Checkpoints and logs
    checkpoint_every: int = 2000  # steps, besides the end of every epoch
    log_every: int = 20  # steps between loss checks and progress-bar updates (each waits for the GPU)
    progress: bool = True

    def check(self) -> None:
        """Raise `AlexNetError`, naming the flag, for a value no run can use."""
        positive = {"epochs": self.epochs, "batch-size": self.batch_size,
                    "checkpoint-every": self.checkpoint_every, "log-every": self.log_every,
                    "epoch-images": self.epoch_images, "val-images": self.val_images}
        for flag, value in positive.items():
            if value is not None and value < 1:
                raise AlexNetError(f"--{flag} {value}: use a whole number >= 1.")
        if self.workers is not None and self.workers < 0:
            raise AlexNetError(f"--workers {self.workers}: use 0 (read in this process) or more.")
        if not self.lr > 0:
            raise AlexNetError(f"--lr {self.lr}: use a learning rate > 0 (the paper's: 0.01).")
        if self.profile not in PROFILES:
            get_profile(self.profile)  # raises, naming the profiles
        for name, allowed in (("model", MODELS), ("init", INITS), ("schedule", SCHEDULES)):
            if getattr(self, name) not in allowed:
                raise AlexNetError(f"--{name} {getattr(self, name)}: choose one of {', '.join(allowed)}.")

    @property
    def memory_format(self) -> torch.memory_format:
        """The layout of the net's weights and inputs: NHWC with ``channels_last``, else NCHW."""
        return torch.channels_last if self.channels_last else torch.contiguous_format


# Where the printed paper and the 2012 code (the run behind the paper's numbers) differ, and what
# the trainer does: the code's value by default, the printed one a flag away. `--help` prints it.
CODE_2012_DIFFERENCES = (
    ("init", "conv3, conv4 and conv5 weights from N(0, 0.03) (the code's layers-145.cfg), the rest "
             "N(0, 0.01); printed: N(0, 0.01) for every layer (--init paper). How each trains the real "
             "net: results/alexnet224.json, shown in §5"),
)
# Where they agree, checked: inputs are raw RGB values 0-255 minus the mean image (no scaling);
# learning rate 0.01 for weights and biases; biases 1 in conv2, conv4, conv5, fc6, fc7 and 0
# elsewhere; momentum 0.9, weight decay 0.0005, batch 128; PCA lighting alphas N(0, 0.1) on the
# eigenvalues of the 0-255 RGB covariance (`lighting_lambdas`).

# What a profile changes in the recipe, for its data and hardware. `paper` changes nothing.
PROFILE_DEFAULTS = {
    # The generated stand-in (10 classes, 400 training images) on a CPU in minutes. With the
    # paper's init the loss stays at ln(10) for longer than that (batch 16, lr 0.01 or 0.00125:
    # after 3-4 epochs val top-1 error is still 90%, chance); PyTorch's init learns in two.
    "smoke": dict(init="pytorch", epochs=10, batch_size=16, checkpoint_every=100),
    # Imagenette (10 real ImageNet classes, ~9,500 training images) on one GPU.
    "course": dict(),
    "paper": dict(),
}

# "mini" is not a net of the paper: AlexNet's layers, input size, towers and init at ~1/16 of its
# widths (31,090 parameters at 10 classes, not 61 million), so that a run of the real pipeline (store,
# augmentation, checkpoints, resume, several processes) takes seconds: the tests and dry runs use it.
MODELS = {"paper": AlexNet, "one-gpu": OneGPUAlexNet, "two-tower": TwoTowerAlexNet,
          "mini": partial(AlexNet, widths=(6, 16, 24, 24, 16), hidden=32)}
INITS = tuple(INITIALISATIONS)
SCHEDULES = ("plateau", "2012")
# Settings that only change how fast (or for how long) a run goes: --resume accepts new values.
RESUMABLE = {"data", "out", "epochs", "val_images", "bf16", "channels_last", "compile", "workers",
             "checkpoint_every", "log_every", "progress"}


def make_config(*, resume: bool = False, **flags) -> TrainConfig:
    """A run's settings, resolved here alone, in this order (each over the one before):

    1. `TrainConfig`'s defaults: the paper's recipe (§5);
    2. the profile's changes (`PROFILE_DEFAULTS`): the profile ``flags`` names, else `get_profile`'s;
    3. ``flags``: the settings given (on the command line, the flags given and only those);
    4. with ``resume``, the settings stored in the run folder's checkpoint, when it holds one: the
       run keeps them but for the `RESUMABLE` ones among ``flags``, and refuses any other flag that
       differs from them (`check_same_run`).

    Settings left None (``data``, ``out``, ``workers``, ``bf16``) the trainer decides at the run's
    start, from the profile and the machine; under `ALEXNET_DRY_RUN` it also cuts the epochs and
    images (`alexnet_lib.train.train`).
    """
    profile = get_profile(flags.get("profile")).name
    config = TrainConfig(**{**PROFILE_DEFAULTS[profile], **flags, "profile": profile})
    checkpoint = out_folder(config) / "checkpoint.pt"
    if not (resume and checkpoint.is_file()):
        return config
    stored = TrainConfig(**load_checkpoint(checkpoint, mmap=True)["config"])
    check_same_run(stored, replace(stored, **flags), checkpoint.parent)
    return replace(stored, **{name: value for name, value in flags.items() if name in RESUMABLE})


def out_folder(config: TrainConfig) -> Path:
    """The run's folder: ``config.out``, else the profile's (``runs/<profile>``, `profile_runs`)."""
    return Path(config.out or profile_runs(config.profile))


def check_same_run(saved: TrainConfig, config: TrainConfig, out: Path) -> None:
    """A resumed run keeps its recipe: only the `RESUMABLE` settings may change."""
    changed = [f.name for f in fields(TrainConfig)
               if f.name not in RESUMABLE and getattr(saved, f.name) != getattr(config, f.name)]
    if changed:
        name = changed[0]
        raise AlexNetError(
            f"--{name.replace('_', '-')} {getattr(config, name)} differs from the run in "
            f"{display_path(out)} ({getattr(saved, name)}): a resumed run keeps its recipe; start "
            "a new run with another --out to change it."
        )


def book_run(profile: str | None = None) -> TrainConfig:
    """The run the §6 and §6.1 chapters share: one checkpoint, trained by whichever page runs first.

    Under ``smoke``: the smoke recipe cut to two epochs, in ``runs/smoke-qualitative``, without
    progress bars. Under ``course`` and ``paper``: the profile's whole run, in ``runs/<profile>``,
    where ``python -m alexnet_lib.train --profile <profile>`` puts it.
    """
    profile = get_profile(profile).name
    if profile == "smoke":
        return make_config(profile=profile, epochs=2, out=str(runs_root() / "smoke-qualitative"),
                           progress=False)
    return make_config(profile=profile, out=str(profile_runs(profile)))


def build_model(config: TrainConfig, num_classes: int, device: torch.device) -> nn.Module:
    """Paper §3.5 and §5: the net ``config.model`` names, initialised as ``config.init`` says.

    ``two-tower`` puts one tower on each of the first two GPUs (§3.2's model parallelism); the
    others go to ``device``. The nets are built with §5's printed init (``init="paper"``,
    `init_paper_`); any other ``config.init`` is then applied by its function in `INITIALISATIONS`:
    ``"2012-code"`` (the default: conv3-5 from N(0, 0.03), as the run behind the paper's numbers),
    ``"caffe"`` (biases 0.1), ``"pytorch"`` (torch's layer defaults, as torchvision's alexnet starts)
    and ``"he"``. Which of them leave the loss of a uniform guess, and how soon, is §5's question
    (book/10_learning.ipynb, results/inits.json and results/alexnet224.json).
    """
    knobs = dict(dropout=config.dropout, dropout_rule=config.dropout_rule)
    if config.remove_conv:
        if config.model not in ("paper", "mini"):
            raise AlexNetError(
                f"--remove-conv {config.remove_conv} is §7's ablation of the paper net: use it "
                f"with --model paper, not --model {config.model}."
            )
        knobs["remove_conv"] = config.remove_conv
    if config.model == "two-tower":
        if device.type != "cuda" or torch.cuda.device_count() < 2:
            found = torch.cuda.device_count() if torch.cuda.is_available() else 0
            raise AlexNetError(
                f"--model two-tower puts one tower on each of two GPUs, but {found} GPU(s) are "
                "visible: use --model paper (the same net with grouped convolutions, one device)."
            )
        net = TwoTowerAlexNet(("cuda:0", "cuda:1"), num_classes, **knobs)
    else:
        net = MODELS[config.model](num_classes, **knobs).to(device)
    if config.init != "paper":  # the nets' own init is the printed one
        INITIALISATIONS[config.init](net)
    return net


def input_device(model: nn.Module, device: torch.device) -> torch.device:
    """Where the net's input goes: its first tower's device for the two-tower net."""
    return model.devices[0] if isinstance(model, TwoTowerAlexNet) else device

