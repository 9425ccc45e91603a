"""Targets 2-3 of benchmarks/README.md: images per second of training, end to end.

End to end = what `python -m alexnet_lib.train` does per step: read uint8 256x256 images from the
prepared store (in DataLoader workers on a GPU, in the training process on the CPU), move them to
the device, crop + flip + PCA lighting there (§4.1), forward, loss, backward, the paper's SGD step
(§5). The rate is the one the trainer itself logs (``images_per_s`` in log.csv): training images
over the epoch's training time, the loader's start included, validation and checkpoint writing
excluded. Each setting runs two epochs of ``--images`` images (default: the whole training split)
and the second is reported (the first pays for cuDNN's autotuning, torch.compile, oneDNN's first
calls).

``--examples DIR`` adds the reference: pytorch/examples' ``imagenet/main.py`` itself, run from a
checkout ``DIR`` of https://github.com/pytorch/examples kept outside this repository (none of its
code is here), on the JPEG folder the store was prepared from (``--source``), as its README runs it:
``main.py -a alexnet --lr 0.01 -b B [-j W] --epochs 2`` (``--no-accel`` without a GPU), in a
temporary folder (it writes a 0.5 GB checkpoint per epoch). Its rate is ``B / `` the mean batch
time it prints for its second epoch (data waits and the loader's start included, as in ours); it
always reads the whole folder, so leave ``--images`` at its default when comparing.
On the CPU ours is timed in fp32 and, where the CPU has bf16 instructions, with ``--bf16``.

The summary also gives the best rate as arithmetic: 6 FLOP per multiply-add of the paper net
(`layer_table`, §3.5: 724M per 224x224 image; forward 2, backward 4 for the input and weight
gradients), 4.3 GFLOP per training image, and with ``--peak-tflops`` (the device's dense bf16 peak
from its datasheet: 989 for an H100 SXM or H200) the fraction of that peak (target 3).

    python benchmarks/train_pipeline.py [--data STORE] [--source JPEG_ROOT] [--images N] [--batch N]
                                        [--workers N] [--compile] [--examples DIR] [--peak-tflops P]

Prints a table, then one summary line: ``train_pipeline: best R img/s (setting, device)``.
Results are recorded in benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

from alexnet_lib.config import KEEP_FREED, device_name, get_device, get_profile
from alexnet_lib.data.imagenet import imagenet_root
from alexnet_lib.data.store import open_prepared, prepared_root
from alexnet_lib.models import AlexNet, layer_table
from alexnet_lib.recipe import make_config
from alexnet_lib.train import train


# The malloc settings our trainer makes on the CPU (keep_freed_memory), as environment variables
KEEP_FREED_ENV = {f"MALLOC_{name}_": str(value) for name, value in KEEP_FREED.items()}
REFERENCE, REFERENCE_KEPT = "pytorch/examples imagenet/main.py", "main.py, malloc as ours"


def pipeline_rate(data: Path, images: int, batch: int, workers: int | None, epochs: int, **speed) -> float:
    """The trainer's own images/s in the last of ``epochs`` epochs of ``images`` images each."""
    with tempfile.TemporaryDirectory() as out, contextlib.redirect_stdout(io.StringIO()):
        config = make_config(data=str(data), out=out, epochs=epochs, epoch_images=images,
                             batch_size=batch, workers=workers, checkpoint_every=10**9,
                             progress=False, **speed)
        return train(config)[-1]["images_per_s"]  # the run's own log lines stay quiet


def examples_rate(examples: Path, source: Path, batch: int, workers: int | None, device,
                  env: dict | None = None) -> float:
    """pytorch/examples' ``imagenet/main.py`` on ``source``: ``batch`` / its second epoch's mean
    batch time. ``env``: extra environment variables for its process."""
    main_py = examples.resolve() / "imagenet" / "main.py"  # it runs in a temporary folder
    command = [sys.executable, str(main_py), str(source.resolve()), "-a", "alexnet",
               "--lr", "0.01", "-b", str(batch), "--epochs", "2", "-p", "1"]
    command += ["-j", str(workers)] if workers is not None else []
    command += [] if device.type == "cuda" else ["--no-accel"]
    with tempfile.TemporaryDirectory() as cwd:
        log = subprocess.run(command, cwd=cwd, capture_output=True, text=True,
                             env={**os.environ, **(env or {})})
    # Its progress lines read "Epoch: [1][ 7/20]\tTime  1.763 ( 1.951)\t...": current (mean so far)
    means = re.findall(r"Epoch: \[1\]\[\s*\d+/\d+\]\s+Time\s+[\d.]+ \(\s*([\d.]+)\)", log.stdout)
    if log.returncode or not means:
        raise SystemExit(f"{' '.join(command)} failed (exit {log.returncode}):\n{log.stderr[-2000:]}")
    return batch / float(means[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=None, help="prepared store (default: the profile's)")
    parser.add_argument("--images", type=int, default=None, help="images per epoch (default: all)")
    parser.add_argument("--batch", type=int, default=None, help="default: 128 on CUDA (the paper's), 16 on CPU")
    parser.add_argument("--workers", type=int, default=None,
                        help="default: each pipeline's own (ours: cores <= 8 on CUDA, 0 on the CPU; main.py: 4)")
    parser.add_argument("--compile", action="store_true", help="also time torch.compile on CUDA")
    parser.add_argument("--source", type=Path, default=None,
                        help="the JPEG folder the store was prepared from (default: the profile's)")
    parser.add_argument("--examples", type=Path, default=None,
                        help="a checkout of pytorch/examples: also time its imagenet/main.py")
    parser.add_argument("--peak-tflops", type=float, default=None,
                        help="the device's dense bf16 peak (datasheet): report the fraction of it")
    args = parser.parse_args()

    device = get_device()
    cuda = device.type == "cuda"
    data = args.data or prepared_root()
    store = open_prepared(data)
    images = args.images or len(store.split("train"))
    batch = args.batch or (128 if cuda else 16)
    epochs = 2
    settings = {"fp32, channels_last": dict(bf16=False, channels_last=True)}
    if not cuda and torch.ops.mkldnn._is_mkldnn_bf16_supported():  # AVX512-BF16 or AMX
        settings["bf16, channels_last"] = dict(bf16=True, channels_last=True)
    if cuda:
        torch.backends.cudnn.benchmark = True
        settings = {"bf16, channels_last": dict(bf16=True, channels_last=True),
                    "bf16, NCHW": dict(bf16=True, channels_last=False), **settings}
        if args.compile:
            settings["bf16, channels_last, compiled"] = dict(bf16=True, channels_last=True, compile=True)
    workers = "default" if args.workers is None else args.workers
    print(f"{device_name(device)}, torch {torch.__version__}; {store.source} ({data}); "
          f"{images} images per epoch, batch {batch}, workers {workers}, profile {get_profile().name}")
    print(f"{'pipeline':<44}{'img/s':>10}")
    rates = {}
    for label, speed in settings.items():
        rates[f"ours, {label}"] = pipeline_rate(data, images, batch, args.workers, epochs, **speed)
        print(f"{'ours, ' + label:<44}{rates['ours, ' + label]:>10.1f}", flush=True)
    if args.examples:
        references = {REFERENCE: None}
        if not cuda:  # main.py once more, with the malloc settings our trainer makes on the CPU
            references[REFERENCE_KEPT] = KEEP_FREED_ENV
        for label, env in references.items():
            rates[label] = examples_rate(args.examples, args.source or imagenet_root(), batch,
                                         args.workers, device, env)
            print(f"{label:<44}{rates[label]:>10.1f}", flush=True)
    best = max((label for label in rates if label.startswith("ours")), key=rates.get)
    summary = f"train_pipeline: best {rates[best]:.1f} img/s ({best}, {device_name(device)})"
    if args.examples:
        summary += f"; {rates[best] / rates[REFERENCE]:.2f}x pytorch/examples"
        if not cuda:
            summary += f" ({rates[best] / rates[REFERENCE_KEPT]:.2f}x with ours' malloc settings)"
    flop_per_image = 6 * sum(row.mult_adds for row in layer_table(AlexNet()))  # §3.5, fwd + bwd
    tflops = rates[best] * flop_per_image / 1e12
    summary += f"; {tflops:.3g} TFLOP/s of training arithmetic ({flop_per_image / 1e9:.1f} GFLOP/img)"
    if args.peak_tflops:
        summary += f", {tflops / args.peak_tflops:.1%} of {args.peak_tflops:g}"
    print(summary)


if __name__ == "__main__":
    main()
