"""Paper §2: what a training epoch reports, its loss and top-1 / top-5 error, summed as it goes."""

from __future__ import annotations

import math

import torch
import torch.distributed as dist

from .distributed import sum_over_processes
from .evaluate import true_label_ranks


class EpochMeter:
    """Paper §2: an epoch's training loss and top-1 / top-5 error, summed on the device.

    Nothing here waits for the GPU except `check`, which looks at the losses since the last check.
    """

    def __init__(self, device: torch.device, state: dict | None = None):
        state = state or {"sums": [0.0] * 3, "images": 0, "seconds": 0.0}
        self.sums = torch.tensor(state["sums"], dtype=torch.float64, device=device)
        self.images = state["images"]
        self.seconds = state["seconds"]  # training time of the epoch so far (before a resume too)
        self.pending: list[tuple[int, torch.Tensor]] = []  # (step, loss) not yet checked

    def add(self, step: int, loss: torch.Tensor, logits: torch.Tensor, labels: torch.Tensor):
        ranks = true_label_ranks(logits.detach().float(), labels)
        k5 = min(5, logits.shape[1])
        self.sums += torch.stack([loss.detach().double() * len(labels),
                                  (ranks >= 1).sum().double(), (ranks >= k5).sum().double()])
        self.images += len(labels)
        self.pending.append((step, loss.detach()))

    def check(self, device: torch.device) -> tuple[float, int | None]:
        """The last loss, and the first step (of any process) whose loss was NaN or infinite."""
        if not self.pending:
            return math.nan, None
        steps = [step for step, _ in self.pending]
        losses = torch.stack([loss.float() for _, loss in self.pending]).cpu()
        self.pending = []
        bad = (~losses.isfinite()).nonzero()
        first_bad = torch.tensor(steps[bad[0].item()] if len(bad) else math.inf, device=device)
        if dist.is_initialized():
            dist.all_reduce(first_bad, op=dist.ReduceOp.MIN)
        return losses[-1].item(), int(first_bad) if first_bad.isfinite() else None

    def state_dict(self) -> dict:
        return {"sums": self.sums.tolist(), "images": self.images, "seconds": self.seconds}

    def summary(self, device: torch.device) -> dict:
        loss, top1, top5, n = sum_over_processes([*self.sums.tolist(), self.images], device)
        return {"train_loss": loss / n, "train_top1": top1 / n, "train_top5": top5 / n, "images": n}
