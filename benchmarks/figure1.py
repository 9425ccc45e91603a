"""Target 4 of benchmarks/README.md: both curves of Figure 1 (§3.1) at CIFAR-10 size, data resident on the device.

Trains `alexnet_lib.models.CifarNet` with ReLU and with tanh over a CIFAR-10-format folder (real
CIFAR-10 when ``--root`` points at it; by default a full-size *stand-in*, 50,000 + 10,000
generated images, made on first use) with `alexnet_lib.resident.train_resident`: the whole
training set on the GPU, batches sliced there, no DataLoader. Prints the seconds both curves
took and the epochs each needed to reach ``--threshold`` training error.

    python benchmarks/figure1.py [--root data/cifar10] [--epochs 30] [--threshold 0.25]

On the CPU it runs one epoch of 5,000 images so that it never rots.
"""

from __future__ import annotations

import argparse
import time

import torch

from alexnet_lib.config import data_root, device_name, get_device, seed_everything
from alexnet_lib.data.arrays import ImageArrays
from alexnet_lib.data.cifar import load_cifar10
from alexnet_lib.data.standin import make_standin
from alexnet_lib.models import CifarNet
from alexnet_lib.resident import epochs_to_reach, to_device_dataset, train_resident


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", default=None, help="a folder holding cifar-10-batches-py/")
    parser.add_argument("--epochs", type=int, default=None, help="default: 30 on CUDA, 1 on CPU")
    parser.add_argument("--threshold", type=float, default=0.25)
    parser.add_argument("--lr-relu", type=float, default=0.05)
    parser.add_argument("--lr-tanh", type=float, default=0.05)
    args = parser.parse_args()

    device = get_device()
    cuda = device.type == "cuda"
    if args.root:
        root = args.root
    else:  # a full-size stand-in on a GPU, the small one elsewhere
        root = make_standin(data_root() / "standin-full", cifar_train_per_batch=10_000,
                            cifar_test=10_000) / "cifar10" if cuda else make_standin() / "cifar10"
    data = load_cifar10(root)
    epochs = args.epochs or (30 if cuda else 1)
    if not cuda:
        data = ImageArrays(data.images[:5000], data.labels[:5000], data.classes, data.source)
    train = to_device_dataset(data, device)
    print(f"{device_name(device)}, torch {torch.__version__}: {len(data.labels):,} images "
          f"({data.source}), {epochs} epochs per curve")
    start = time.perf_counter()
    reached = {}
    for activation, lr in (("relu", args.lr_relu), ("tanh", args.lr_tanh)):
        seed_everything(0)
        history = train_resident(CifarNet(activation).to(device), train, epochs=epochs, lr=lr,
                                 progress=False)
        reached[activation] = epochs_to_reach(history, args.threshold)
        print(f"{activation}: lr {lr:g}, {sum(history.seconds):.1f} s, final training error "
              f"{history.train_error[-1]:.3f}, epochs to {args.threshold:.0%}: {reached[activation]}")
    if cuda:
        torch.cuda.synchronize()
    print(f"figure1: both curves in {time.perf_counter() - start:.1f} s on {device_name(device)} "
          f"({len(data.labels):,} images x {epochs} epochs each)")


if __name__ == "__main__":
    main()
