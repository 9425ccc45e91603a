"""Paper §3.3: how fast is local response normalization, ours against the alternatives?

Times forward + backward of three implementations that compute the same numbers, at the two
shapes where AlexNet normalises (after conv1: B x 96 x 55 x 55, after conv2: B x 256 x 27 x 27):

* ``ours``: `alexnet_lib.layers.LocalResponseNorm`, the formula with a hand-written backward; on
  CUDA that is the fused Triton kernels, and ``ours, reference`` (``fused=False``) the PyTorch ops;
* ``autograd``: the same forward formula differentiated by autograd (the library's first version);
* ``torch``: ``torch.nn.LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2)``, the same numbers
  (torch divides alpha by n).

Then one AlexNet training step (forward, backward, SGD update) with each LRN and with none, to
show what share of a step the normalisation costs. Runs on CUDA when present, else on the CPU with
a small batch. ``--compile`` adds torch.compile'd rows.

    python benchmarks/lrn.py [--batch 32] [--repeats 5] [--compile]

Recorded on a 2-core CPU (AMD EPYC, AVX512-BF16, torch 2.14.1), 2026-11-23, with
``python benchmarks/lrn.py --batch 128 --repeats 3`` and the trainer's malloc settings
(`alexnet_lib.config.keep_freed_memory`); the window sums are four passes over a padded buffer
that carries k and alpha. The last of four runs in a row (all four below the table):

    input shape            LRN               forward ms  fwd+bwd ms  vs torch
    128x96x55x55           ours                    80.0       180.1     6.14x
    128x96x55x55           autograd               122.2       497.3     2.22x
    128x96x55x55           torch                  463.0      1105.0     1.00x
    128x256x27x27          ours                    57.2        88.0     8.29x
    128x256x27x27          autograd                80.0       278.8     2.62x
    128x256x27x27          torch                  270.6       729.4     1.00x

    AlexNet training step, batch 128: ours 3720 ms (LRN 6% of the step), torch 6445 ms (46%),
    no LRN 3499 ms.

    The four runs: ours 167-183 ms at conv1's shape and 88-142 at conv2's, 5.2x-6.8x torch's
    layer over both shapes, LRN 2, 9, 13 and 6 percent of the step (the step times swing with
    the machine by more than LRN costs).

    ``--compile`` (torch.compile of the whole layer, inductor's C++; batch 64, 2026-11-23, an
    earlier version of ours): 3x *slower* than ours uncompiled, 383 vs 125 ms forward +
    backward at conv1's shape, 242 vs 70 at conv2's. The forward and the backward formulas compiled
    one by one and called from `_LRNFunction` were 2x faster (63 vs 122 ms, 42 vs 68), but a
    training step at batch 64 only 2% faster than with the current code (43.4 vs 42.4 img/s),
    after 3-4 s of compiling per new shape and only where a C++ compiler is installed: not
    adopted, ours stays uncompiled.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn

from alexnet_lib.config import device_name, get_device, keep_freed_memory
from alexnet_lib.layers import LocalResponseNorm
from alexnet_lib.models import AlexNet


def autograd_lrn(a: torch.Tensor, size=5, alpha=1e-4, beta=0.75, k=2.0) -> torch.Tensor:
    """The §3.3 formula with the window sum as pad + unfold, differentiated by autograd."""
    squares = F.pad(a.pow(2), (0, 0, 0, 0, size // 2, size // 2))
    return a / (k + alpha * squares.unfold(1, size, 1).sum(-1)).pow(beta)


def torch_lrn() -> nn.Module:
    """PyTorch's LRN with the paper's constants: torch divides alpha by n, so 5e-4 is 1e-4."""
    return nn.LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2.0)


def median_seconds(fns: dict, repeats: int, device: torch.device) -> dict[str, float]:
    """Median wall time of each ``fns[name]()``, after a warm-up; runs interleaved so that a busy
    machine slows every candidate alike."""

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    times = {name: [] for name in fns}
    for fn in fns.values():
        fn()
    for _ in range(repeats):
        for name, fn in fns.items():
            sync()
            start = time.perf_counter()
            fn()
            sync()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def time_lrns(batch: int, repeats: int, device: torch.device, compile_: bool) -> list[tuple]:
    """(shape, name, forward seconds, forward + backward seconds) for each LRN at both shapes."""
    lrns = {"ours": LocalResponseNorm(), "autograd": autograd_lrn, "torch": torch_lrn()}
    if device.type == "cuda":
        lrns["ours, reference"] = LocalResponseNorm(fused=False)
    if compile_:
        lrns["ours, compiled"] = torch.compile(LocalResponseNorm())
        lrns["torch, compiled"] = torch.compile(torch_lrn())
    rows = []
    for shape in [(batch, 96, 55, 55), (batch, 256, 27, 27)]:
        a = (torch.randn(shape, device=device) * 30).relu().requires_grad_()
        grad = torch.randn(shape, device=device)
        reference = lrns["ours"](a)
        forwards, backwards = {}, {}
        for name, lrn in lrns.items():
            assert torch.allclose(lrn(a), reference, rtol=1e-5, atol=1e-6), name  # same numbers

            def forward(lrn=lrn):
                with torch.no_grad():
                    lrn(a)

            def forward_backward(lrn=lrn):
                a.grad = None
                lrn(a).backward(grad)

            forwards[name], backwards[name] = forward, forward_backward
        forward_s = median_seconds(forwards, repeats, device)
        total_s = median_seconds(backwards, repeats, device)
        rows += [(shape, name, forward_s[name], total_s[name]) for name in lrns]
    return rows


def time_steps(batch: int, repeats: int, device: torch.device) -> dict[str, float]:
    """Seconds per AlexNet training step with our LRN, torch's, and none (``lrn=False``)."""
    torch.manual_seed(0)
    images = torch.randn(batch, 3, 224, 224, device=device)
    labels = torch.randint(0, 1000, (batch,), device=device)
    steps = {}
    names = ("ours", "ours, reference", "torch", "none") if device.type == "cuda" else ("ours", "torch", "none")
    for name in names:
        model = AlexNet(lrn=name != "none").to(device)
        if name == "torch":
            model.features.lrn1, model.features.lrn2 = torch_lrn(), torch_lrn()
        if name == "ours, reference":
            model.features.lrn1.fused = model.features.lrn2.fused = False
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

        def step(model=model, optimizer=optimizer):
            optimizer.zero_grad()
            F.cross_entropy(model(images), labels).backward()
            optimizer.step()

        steps[name] = step
    return median_seconds(steps, repeats, device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=None, help="default: 128 on CUDA, 32 on CPU")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--compile", action="store_true", help="also time torch.compile'd LRNs")
    args = parser.parse_args()
    device = get_device()
    if device.type == "cpu":
        keep_freed_memory()  # as the trainer does; every LRN alike
    batch = args.batch or (128 if device.type == "cuda" else 32)
    print(f"device: {device_name(device)}, torch {torch.__version__}, batch {batch}\n")

    rows = time_lrns(batch, args.repeats, device, args.compile)
    print(f"{'input shape':<22} {'LRN':<16} {'forward ms':>11} {'fwd+bwd ms':>11} {'vs torch':>9}")
    torch_time = {shape: total for shape, name, _, total in rows if name == "torch"}
    for shape, name, forward, total in rows:
        speedup = torch_time[shape] / total
        print(f"{'x'.join(map(str, shape)):<22} {name:<16} {forward * 1e3:>11.2f} "
              f"{total * 1e3:>11.2f} {speedup:>8.2f}x")

    steps = time_steps(batch, args.repeats, device)
    print(f"\nAlexNet training step, batch {batch}:")
    share = {name: (steps[name] - steps["none"]) / steps[name] for name in steps if name != "none"}
    for name, step in steps.items():
        label = "no LRN" if name == "none" else f"{name} LRN"
        note = f"  (LRN: {share[name]:.0%} of the step)" if name in share else ""
        print(f"  {label:<20} {step * 1e3:8.1f} ms{note}")

    ours = sum(total for _, name, _, total in rows if name == "ours")
    torchs = sum(total for _, name, _, total in rows if name == "torch")
    print(f"\nsummary: ours {torchs / ours:.2f}x faster than torch.nn.LocalResponseNorm "
          f"(forward+backward, both shapes); LRN takes {share['ours']:.0%} (ours) vs "
          f"{share['torch']:.0%} (torch) of an AlexNet training step on {device_name(device)}")


if __name__ == "__main__":
    main()
