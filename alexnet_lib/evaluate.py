"""Paper §2 and §6: top-1 and top-5 error, on a batch of scores, over a data loader, or of a
trained checkpoint on its validation set, 1 view and 10 views, beside the paper's Table 2.

    python -m alexnet_lib.evaluate --checkpoint runs/smoke/best.pt [--data DIR] [--views 1 10]
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

import torch
from torch import nn

from .augment import TenCrop
from .config import device_name, display_path, get_device
from .data.batches import batch_loader, held_out_sample
from .data.store import open_prepared
from .errors import AlexNetError, OneLineParser
from .models import TwoTowerAlexNet
from .recipe import TrainConfig, build_model
from .run_folder import load_checkpoint


def true_label_ranks(scores: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """How many classes score at least as high as the true one (0 = the true label is alone on top).

    Ties count against the model: a class tied with the true label ranks above it. So a net whose
    scores are all equal (e.g. dead ReLUs at the start of training) gets 100% error, not 0%.
    A row holding any NaN score (a diverged net) counts as wrong at every k.
    """
    if scores.dim() != 2 or targets.shape != scores.shape[:1]:
        raise AlexNetError(
            f"Expected scores of shape (samples, classes) and targets of shape (samples,); "
            f"got {tuple(scores.shape)} and {tuple(targets.shape)}."
        )
    true_scores = scores.gather(1, targets.long().unsqueeze(1))
    ranks = (scores >= true_scores).sum(1) - 1  # minus the true class itself
    return ranks.masked_fill(scores.isnan().any(1), scores.shape[1])


def _check_ks(ks: Sequence[int], num_classes: int) -> None:
    for k in ks:
        if not 1 <= k <= num_classes:
            raise AlexNetError(
                f"top-{k} error needs 1 <= k <= number of classes ({num_classes}); "
                "pass ks with smaller values, e.g. ks=(1,)."
            )


def _errors_from_ranks(ranks: torch.Tensor, ks: Sequence[int]) -> dict[int, float]:
    return {k: (ranks >= k).sum().item() / len(ranks) for k in ks}


def topk_errors(
    logits: torch.Tensor, targets: torch.Tensor, ks: Sequence[int] = (1, 5)
) -> dict[int, float]:
    """Paper §2: the fraction of samples whose true label is not among the k highest scores.

    ``logits`` is (samples, classes), any scores where higher means more likely (logits or
    averaged softmax); ``targets`` holds class indices. Returns ``{k: error}`` for each k, e.g.
    ``{1: 0.375, 5: 0.17}`` for the paper's ILSVRC-2010 result.

    Ties: a class whose score equals the true label's counts as ranked above it, so ties never
    help. Raises `AlexNetError` when a k is below 1 or above the number of classes.
    """
    ranks = true_label_ranks(logits, targets)
    _check_ks(ks, logits.shape[1])
    return _errors_from_ranks(ranks, ks)


def evaluate(
    model: nn.Module,
    loader: Iterable[tuple[torch.Tensor, torch.Tensor]],
    device: torch.device | str | None = None,
    ks: Sequence[int] = (1, 5),
) -> dict[int, float]:
    """Paper §2: top-k errors of ``model`` over every (images, labels) batch of ``loader``.

    Runs in eval mode (dropout at its test-time rule: `PaperDropout` multiplies by 1 - p,
    ``nn.Dropout`` passes everything) under ``torch.no_grad`` on ``device``, by default
    `get_device()`; moves the model there, and restores its train/eval mode afterwards. A model
    whose parameters lie on several devices (`TwoTowerAlexNet`) stays where it is; its inputs go
    to ``device``.
    """
    device = torch.device(device) if device is not None else get_device()
    was_training = model.training
    if len({p.device for p in model.parameters()}) <= 1:
        model.to(device)
    model.eval()
    ranks = []
    try:
        with torch.no_grad():
            for images, labels in loader:
                logits = model(images.to(device))
                if not ranks:  # the first batch tells how many classes there are
                    _check_ks(ks, logits.shape[-1])
                ranks.append(true_label_ranks(logits, labels.to(device)).cpu())
    finally:
        model.train(was_training)
    if not ranks:
        raise AlexNetError("The loader yielded no batches: check the dataset path and its size.")
    return _errors_from_ranks(torch.cat(ranks), ks)


class CentreCrop(nn.Module):
    """Paper §4.1 and §6: a model that answers from 1 view, the centre patch of each image.

    The single-view test: subtract ``mean_image`` (when given) from the uncropped images (uint8 or
    float N×3×256×256), keep the central ``size``×``size`` patch (offset 16, 16 for 224 of 256),
    and return the model's scores for it. `TenCrop` (`alexnet_lib.augment`) is the 10-view test.
    """

    def __init__(self, model: nn.Module, mean_image: torch.Tensor | None = None, size: int = 224):
        super().__init__()
        self.model, self.size = model, size
        self.register_buffer("mean_image", mean_image)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = images.float()
        if self.mean_image is not None:
            x = x - self.mean_image.to(x.device, x.dtype)
        top, left = (x.shape[2] - self.size) // 2, (x.shape[3] - self.size) // 2
        return self.model(x[:, :, top:top + self.size, left:left + self.size])


# Paper §6 (Table 2) and the published single-net results on the ILSVRC-2012 validation set, as
# (who, views, top-1 error, top-5 error). Sources: the paper; the log of the authors' cuda-convnet run
# (computerhistory/AlexNet-Source-Code); Caffe's bvlc_alexnet model card; torchvision's AlexNet_Weights
# documentation (accuracies 56.522% / 79.066%). "views": None = not stated.
PUBLISHED_ILSVRC2012_VAL = (
    ("paper: 1 CNN (Table 2)", None, 0.407, 0.182),
    ("the 2012 code's log (cuda-convnet)", 1, 0.4066, 0.1821),
    ("the 2012 code's log (cuda-convnet)", 10, 0.4025, 0.1799),
    ("Caffe bvlc_alexnet", 1, 0.429, 0.198),
    ("torchvision alexnet (a later variant, no LRN)", 1, 1 - 0.5652, 1 - 0.7907),
)


def evaluate_checkpoint(
    path: str | Path, data: str | Path | None = None, views: Sequence[int] = (1, 10),
    batch_size: int = 64, workers: int = 0, device: torch.device | str | None = None, images: int | None = None,
) -> tuple[dict[int, dict[int, float]], dict]:
    """Paper §6: top-1 / top-5 error of a checkpoint of `alexnet_lib.train` on a validation set.

    ``data``: the prepared store to read (default: the one the run trained on); its mean image is
    subtracted. ``views``: 1 (the centre patch, `CentreCrop`) and/or 10 (§4.1's ten patches with
    their softmax averaged, `TenCrop`). ``images``: score that many validation images, a fixed random
    sample (`held_out_sample`: the trainer's ``--val-images`` sample), not all of them. Returns ``({views: {1: top-1, 5: top-5}}, info)``; info
    says which checkpoint, data and device.
    """
    device = torch.device(device) if device is not None else get_device()
    checkpoint = load_checkpoint(path)
    config = TrainConfig(**checkpoint["config"])
    data = Path(data or config.data)
    store = open_prepared(data)
    if list(store.classes) != list(checkpoint["classes"]):
        raise AlexNetError(
            f"The checkpoint {display_path(Path(path))} was trained on {len(checkpoint['classes'])} "
            f"classes that differ from the {len(store.classes)} of {display_path(data)}: pass the "
            "store it was trained on with --data."
        )
    if config.model == "two-tower" and torch.cuda.device_count() < 2:  # both towers on one device
        net = TwoTowerAlexNet((device, device), len(store.classes), dropout=config.dropout,
                              dropout_rule=config.dropout_rule)
    else:
        net = build_model(config, len(store.classes), device)
    net.load_state_dict(checkpoint["model"])
    split = store.split("val")
    sample = held_out_sample(len(split), images)
    batches = [sample[i:i + batch_size] for i in range(0, len(sample), batch_size)]
    mean_image = store.stats.mean_image
    ks = (1, min(5, len(store.classes)))
    wrappers = {1: CentreCrop, 10: TenCrop}
    results = {}
    for view in views:
        if view not in wrappers:
            raise AlexNetError(f"--views {view}: the paper tests on 1 view (the centre) or 10.")
        loader = batch_loader(split, batches, workers, pin_memory=device.type == "cuda")
        scores = evaluate(wrappers[view](net, mean_image), loader, device, ks)
        results[view] = {1: scores[ks[0]], 5: scores[ks[1]]}
    info = {"checkpoint": display_path(Path(path)), "epoch": checkpoint["epoch"],
            "step": checkpoint["step"], "model": config.model, "data": display_path(data),
            "source": store.source, "images": len(sample), "classes": len(store.classes),
            "device": device_name(device)}
    return results, info


def table2(results: dict[int, dict[int, float]], info: dict) -> str:
    """Paper §6: ``results`` of `evaluate_checkpoint` as rows of a Table 2 (markdown), below the
    paper's single net and the published references, with chance for the checkpoint's classes."""
    def pct(error: float) -> str:
        return f"{100 * error:.2f}%"

    k = min(5, info["classes"])  # with fewer than 5 classes, "top-5" can only be top-k
    column = "top-5 error" if k == 5 else f"top-5 error (this checkpoint: top-{k}, {k} classes)"
    lines = [f"| model | validation data | views | top-1 error | {column} |",
             "| --- | --- | --- | --- | --- |"]
    for who, views, top1, top5 in PUBLISHED_ILSVRC2012_VAL:
        lines.append(f"| {who} | ILSVRC-2012, 50,000 images, 1000 classes | "
                     f"{views or 'not stated'} | {pct(top1)} | {pct(top5)} |")
    data = f"{info['source']}, {info['images']:,} images, {info['classes']} classes"
    for views, errors in results.items():
        lines.append(f"| this checkpoint ({info['model']} net, epoch {info['epoch']}; "
                     f"{info['device']}) | {data} | {views} | {pct(errors[1])} | {pct(errors[5])} |")
    lines.append(f"| chance | {info['classes']} classes | - | {pct(1 - 1 / info['classes'])} | "
                 f"{pct(1 - k / info['classes'])} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Command line: the table of `table2` for one checkpoint; errors print one line."""
    parser = OneLineParser(prog="python -m alexnet_lib.evaluate",
                           description="Top-1 / top-5 error of a trained checkpoint (§6, Table 2).")
    parser.add_argument("--checkpoint", required=True, metavar="PATH", help="checkpoint.pt or best.pt of a run")
    parser.add_argument("--data", metavar="DIR", help="prepared store (default: the one the run trained on)")
    parser.add_argument("--views", type=int, nargs="+", default=[1, 10], choices=[1, 10],
                        help="1 (centre patch) and/or 10 (§4.1's ten patches); default both")
    parser.add_argument("--batch-size", type=int, default=64, metavar="N", help="images per batch (default 64)")
    parser.add_argument("--workers", type=int, default=0, metavar="N", help="data-reading processes (default 0)")
    parser.add_argument("--images", type=int, metavar="N",
                        help="score N validation images, a fixed random sample (default: all of them)")
    args = parser.parse_args(argv)
    try:
        if args.batch_size < 1 or args.workers < 0 or (args.images is not None and args.images < 1):
            raise AlexNetError("--batch-size and --images must be >= 1 and --workers >= 0.")
        results, info = evaluate_checkpoint(args.checkpoint, args.data, args.views,
                                            args.batch_size, args.workers, images=args.images)
    except AlexNetError as err:
        sys.exit(f"error: {err}")
    print(f"checkpoint: {info['checkpoint']} (epoch {info['epoch']}, step {info['step']})")
    print(f"data      : {info['data']}: {info['source']}")
    print(f"device    : {info['device']}\n")
    print(table2(results, info))


if __name__ == "__main__":
    main()
