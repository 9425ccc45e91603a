"""Target 1 of benchmarks/README.md: the paper net's training step against torchvision's ``alexnet``.

One training step = forward, cross-entropy, backward, SGD update (momentum 0.9, weight decay
5e-4), on random 224x224 images already on the device, so only the model is timed (the input
pipeline is `benchmarks/train_pipeline.py`'s business). Nets:

* ``torchvision``: ``torchvision.models.alexnet`` (the 2014 "one weird trick" variant: 64/192/384/
  256/256 kernels, no LRN, no groups, 61.1M parameters) -- the reference people use;
* ``paper``: `alexnet_lib.models.AlexNet()`, §3.5 exactly (groups=2, LRN, 60.97M parameters);
* ``paper, no LRN``: the same without the two normalisations, to show what LRN costs;
* ``paper, two towers``: `alexnet_lib.models.TwoTowerAlexNet` on one device, the function of
  ``AlexNet(lrn_groups=2)`` (LRN within each tower, as the 2012 code) computed by ten dense
  convolutions instead of five of which three are grouped, to show what grouped convolutions cost
  on this device.

On CUDA every net runs in bf16 autocast and channels_last (``--fp32`` turns autocast off);
``--compile`` adds torch.compile'd rows. On the CPU: fp32 (``--bf16``: bf16 autocast, for CPUs with
AVX512-BF16 or AMX), a small batch, a few steps, with the trainer's malloc settings
(`alexnet_lib.config.keep_freed_memory`). The nets take turns: ``--rounds`` rounds (default 3) of
``--steps`` steps each, and each net's rate is its median round, so that a shared machine's slow
spells do not favour the net measured first.

    python benchmarks/train_step.py [--batch N] [--steps N] [--rounds N] [--compile] [--fp32 | --bf16]

Prints a table, then one summary line: ``train_step: paper/torchvision = R``.
Results are recorded in benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time

import torch
import torch.nn.functional as F
import torchvision

from alexnet_lib.config import device_name, get_device, keep_freed_memory, seed_everything
from alexnet_lib.models import AlexNet, TwoTowerAlexNet


def training_step(model, batch: int, device, bf16: bool):
    """One training step of ``model`` on a fixed random batch, as a function of no arguments."""
    model.to(device, memory_format=torch.channels_last).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    x = torch.randn(batch, 3, 224, 224, device=device).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 1000, (batch,), device=device)
    autocast = torch.autocast(device.type, torch.bfloat16) if bf16 else contextlib.nullcontext()

    def one_step():
        with autocast:
            loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return one_step


def step_rates(steps: dict, batch: int, n_steps: int, warmup: int, rounds: int, device) -> dict:
    """Images per second of each training step in ``steps``: the median over ``rounds`` rounds of
    ``n_steps`` steps, the nets taking turns within each round, so that a machine that slows down
    for a while slows every net alike, after ``warmup`` untimed steps each."""

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    for one_step in steps.values():
        for _ in range(warmup):
            one_step()
    rates = {name: [] for name in steps}
    for _ in range(rounds):
        for name, one_step in steps.items():
            sync()
            start = time.perf_counter()
            for _ in range(n_steps):
                one_step()
            sync()
            rates[name].append(batch * n_steps / (time.perf_counter() - start))
    return {name: statistics.median(r) for name, r in rates.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=None, help="default: 256 on CUDA, 16 on CPU")
    parser.add_argument("--steps", type=int, default=None,
                        help="steps per net per round (default: 50 on CUDA, 3 on CPU)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds, the nets taking turns (median)")
    parser.add_argument("--compile", action="store_true", help="also time torch.compile'd nets")
    precision = parser.add_mutually_exclusive_group()
    precision.add_argument("--fp32", action="store_true", help="no bf16 autocast on CUDA")
    precision.add_argument("--bf16", action="store_true", help="bf16 autocast on the CPU too")
    args = parser.parse_args()

    device = get_device()
    cuda = device.type == "cuda"
    batch = args.batch or (256 if cuda else 16)
    n_steps = args.steps or (50 if cuda else 3)
    bf16 = args.bf16 or (cuda and not args.fp32)
    if cuda:
        torch.backends.cudnn.benchmark = True
    else:
        keep_freed_memory()  # as the trainer does on the CPU: every net gains from it
    seed_everything(0)
    nets = {
        "torchvision": lambda: torchvision.models.alexnet(num_classes=1000),
        "paper": lambda: AlexNet(),
        "paper, no LRN": lambda: AlexNet(lrn=False),
        "paper, two towers": lambda: TwoTowerAlexNet((device, device)),
    }
    print(f"{device_name(device)}, torch {torch.__version__}, batch {batch}, {args.rounds} rounds of "
          f"{n_steps} steps, {'bf16 autocast' if bf16 else 'fp32'}, channels_last")
    print(f"{'net':<28}{'img/s':>10}{'ms/step':>10}")
    steps = {}
    for compiled in (False, True) if args.compile else (False,):
        for name, make in nets.items():
            model = torch.compile(make()) if compiled else make()
            steps[name + (", compiled" if compiled else "")] = training_step(model, batch, device, bf16)
    rates = step_rates(steps, batch, n_steps, warmup=10 if cuda else 2, rounds=args.rounds, device=device)
    for label, rate in rates.items():
        print(f"{label:<28}{rate:>10.0f}{1000 * batch / rate:>10.1f}")
    best = {n: max(r for label, r in rates.items() if label in (n, n + ", compiled"))
            for n in ("torchvision", "paper")}
    print(f"train_step: paper/torchvision = {best['paper'] / best['torchvision']:.2f} "
          f"(best of each: {best['paper']:.0f} vs {best['torchvision']:.0f} img/s, {device_name(device)})")


if __name__ == "__main__":
    main()
