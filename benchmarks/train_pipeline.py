"""Issue 5 (and issue 7, targets 2-3): images per second of training, end to end.

End to end = what `python -m alexnet_lib.train` does per step: read uint8 256x256 images from the
prepared store in DataLoader workers, move them to the device, crop + flip + PCA lighting there
(§4.1), forward, loss, backward, the paper's SGD step (§5). The rate is the one the trainer itself
logs (``images_per_s`` in log.csv): training images over the epoch's training time, the loader's
start included, validation and checkpoint writing excluded. Each setting runs two epochs of
``--images`` images and the second is reported (the first pays for cuDNN's autotuning,
torch.compile, oneDNN's first calls).

``--baseline`` adds the pipeline of pytorch/examples' ``imagenet/main.py`` on the same images, as
published: JPEG files through ``ImageFolder`` + ``RandomResizedCrop(224)`` + flip + ``ToTensor`` +
``Normalize`` in the workers, torchvision's ``alexnet``, ``torch.optim.SGD``, fp32.

    python benchmarks/train_pipeline.py [--data STORE] [--images N] [--batch N] [--workers N]
                                        [--compile] [--baseline]

Prints a table, then one summary line: ``train_pipeline: best R img/s (setting, device)``.
Results are recorded in benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
import torchvision
from torch.utils.data import DataLoader
from torchvision import transforms

from alexnet_lib.config import device_name, get_device, get_profile
from alexnet_lib.data.imagenet import imagenet_root
from alexnet_lib.data.prepare import open_prepared, prepared_root
from alexnet_lib.train import make_config, train


def pipeline_rate(data: Path, images: int, batch: int, workers: int, epochs: int, **speed) -> float:
    """The trainer's own images/s in the last of ``epochs`` epochs of ``images`` images each."""
    with tempfile.TemporaryDirectory() as out, contextlib.redirect_stdout(io.StringIO()):
        config = make_config(data=str(data), out=out, epochs=epochs, epoch_images=images,
                             batch_size=batch, workers=workers, checkpoint_every=10**9,
                             progress=False, **speed)
        return train(config)[-1]["images_per_s"]  # the run's own log lines stay quiet


def examples_rate(root: Path, images: int, batch: int, workers: int, device, warmup: int) -> float:
    """pytorch/examples' imagenet/main.py training loop on the JPEG folder ``root``/train."""
    normalize = transforms.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])
    dataset = torchvision.datasets.ImageFolder(root / "train", transforms.Compose([
        transforms.RandomResizedCrop(224), transforms.RandomHorizontalFlip(),
        transforms.ToTensor(), normalize]))
    loader = DataLoader(dataset, batch_size=batch, shuffle=True, num_workers=workers,
                        pin_memory=device.type == "cuda", drop_last=True)
    model = torchvision.models.alexnet(num_classes=len(dataset.classes)).to(device).train()
    optimizer = torch.optim.SGD(model.parameters(), 0.01, momentum=0.9, weight_decay=1e-4)
    seen, start = 0, None
    while seen < images:
        for step, (x, y) in enumerate(loader):
            if start is None and step == warmup:
                if device.type == "cuda":
                    torch.cuda.synchronize()
                start, seen = time.perf_counter(), 0
            loss = F.cross_entropy(model(x.to(device, non_blocking=True)), y.to(device, non_blocking=True))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            seen += len(y)
            if start is not None and seen >= images:
                break
    if device.type == "cuda":
        torch.cuda.synchronize()
    return seen / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=None, help="prepared store (default: the profile's)")
    parser.add_argument("--images", type=int, default=None, help="images per epoch (default: 64 CPU, all on CUDA)")
    parser.add_argument("--batch", type=int, default=None, help="default: 128 on CUDA (the paper's), 16 on CPU")
    parser.add_argument("--workers", type=int, default=None, help="default: the trainer's (cores, at most 8)")
    parser.add_argument("--compile", action="store_true", help="also time torch.compile on CUDA")
    parser.add_argument("--baseline", action="store_true", help="also time pytorch/examples' pipeline")
    args = parser.parse_args()

    device = get_device()
    cuda = device.type == "cuda"
    data = args.data or prepared_root()
    store = open_prepared(data)
    images = args.images or (len(store.split("train")) if cuda else 64)
    batch = args.batch or (128 if cuda else 16)
    workers = args.workers if args.workers is not None else min(8, os.cpu_count() or 1)  # the trainer's
    epochs = 2
    settings = {"fp32, channels_last": dict(bf16=False, channels_last=True)}
    if cuda:
        torch.backends.cudnn.benchmark = True
        settings = {"bf16, channels_last": dict(bf16=True, channels_last=True),
                    "bf16, NCHW": dict(bf16=True, channels_last=False), **settings}
        if args.compile:
            settings["bf16, channels_last, compiled"] = dict(bf16=True, channels_last=True, compile=True)
    print(f"{device_name(device)}, torch {torch.__version__}; {store.source} ({data}); "
          f"{images} images per epoch, batch {batch}, {workers} workers, profile {get_profile().name}")
    print(f"{'pipeline':<44}{'img/s':>10}")
    rates = {}
    for label, speed in settings.items():
        rates[f"ours, {label}"] = pipeline_rate(data, images, batch, workers, epochs, **speed)
        print(f"{'ours, ' + label:<44}{rates['ours, ' + label]:>10.1f}", flush=True)
    if args.baseline:
        label = "pytorch/examples (JPEG, PIL, fp32)"
        rates[label] = examples_rate(imagenet_root(), images, batch, workers, device, 5 if cuda else 1)
        print(f"{label:<44}{rates[label]:>10.1f}", flush=True)
    best = max((label for label in rates if label.startswith("ours")), key=rates.get)
    summary = f"train_pipeline: best {rates[best]:.1f} img/s ({best}, {device_name(device)})"
    if args.baseline:
        summary += f"; {rates[best] / rates[label]:.2f}x pytorch/examples"
    print(summary)


if __name__ == "__main__":
    main()
