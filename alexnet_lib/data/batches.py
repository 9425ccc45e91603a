"""Paper §5: the training data in a seeded order, one epoch at a time, read a batch at a time."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader


def epoch_batches(
    num_images: int, batch_size: int, seed: int, epoch: int,
    *, rank: int = 0, world: int = 1, epoch_images: int | None = None,
) -> list[list[int]]:
    """Paper §5: the training batches of ``epoch`` (from 0), as lists of image indices.

    The order is a permutation drawn from (``seed``, ``epoch``) alone: any process can recompute
    any epoch's batches, which is what makes resuming exact. Only whole batches (the last,
    partial one is dropped; it comes back in another epoch's order). ``epoch_images`` keeps the
    first so many images of the permutation. With ``world`` processes each global batch is cut
    into ``world`` equal parts and process ``rank`` takes its part, so together they see what one
    process would.
    """
    order = np.random.default_rng([seed, epoch]).permutation(num_images)[:epoch_images]
    part = batch_size // world
    return [order[b * batch_size + rank * part: b * batch_size + (rank + 1) * part].tolist()
            for b in range(len(order) // batch_size)]


def held_out_sample(num_images: int, count: int | None = None) -> list[int]:
    """The validation images a run scores: all ``num_images``, or ``count`` of them drawn once from
    a fixed seed (the same for every run and every process; a store lists its validation images
    class by class, so the first ``count`` would miss classes), in increasing order."""
    if count is None or count >= num_images:
        return list(range(num_images))
    return sorted(np.random.default_rng(0).permutation(num_images)[:count].tolist())


def batch_loader(split, batches: list[list[int]], workers: int = 0, pin_memory: bool = False):
    """The ``batches`` of a prepared split as (uint8 images, labels), read in order by
    ``workers`` processes (0: this one); one ``split[indices]`` read per batch.

    The loader has its own random generator, so creating one never moves the global random
    state (dropout's): a resumed run draws the same masks as an uninterrupted one.
    """
    return DataLoader(split, sampler=batches, batch_size=None, num_workers=workers,
                      pin_memory=pin_memory, generator=torch.Generator())

