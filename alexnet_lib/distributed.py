"""Several processes (torchrun, DDP): joining the group, and what the processes share."""

from __future__ import annotations

import io
import os

import torch
import torch.distributed as dist

from .config import get_device


def init_distributed() -> tuple[int, int, torch.device]:
    """(rank, world size, device) of this process; under torchrun, joins the process group."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return 0, 1, get_device()
    rank, local_rank = int(os.environ["RANK"]), int(os.environ["LOCAL_RANK"])
    if torch.cuda.is_available():
        torch.cuda.set_device(local_rank)
        device, backend = torch.device("cuda", local_rank), "nccl"
    else:
        device, backend = torch.device("cpu"), "gloo"
    dist.init_process_group(backend)
    return rank, world, device


def gather(state: dict, world: int) -> list[dict]:
    """Every process's ``state`` (tensors and plain values), in rank order, in every process."""
    if world == 1:
        return [state]
    buffer = io.BytesIO()
    torch.save(state, buffer)
    states = [None] * world
    dist.all_gather_object(states, buffer.getvalue())  # bytes: tensors themselves do not travel well
    return [torch.load(io.BytesIO(data), weights_only=True) for data in states]


def sum_over_processes(values: list[float], device: torch.device) -> list[float]:
    if not dist.is_initialized():
        return values
    total = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(total)
    return total.tolist()

