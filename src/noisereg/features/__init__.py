"""Features f(x) of a frozen backbone: extraction, and the on-disk cache of the frozen scheme (``cache.py``).

f(x) of every image is computed once and stored as a float16 ``.npy`` memmap plus a JSON index,
reused across methods, seeds and clean fractions. A backbone cut by ``--train-blocks`` caches its trunk's
activations the same way, as (N, C, H, W) float16 arrays, the cut part of the key.

The cache key covers everything that changes the features (backbone name, a hash of its weights,
the preprocessing, the image ids in order), so a changed transform or a retrained backbone gets a
new cache instead of stale features. Files are written under temporary names and renamed when
complete; the JSON index is renamed last and marks the cache as usable. Heads read the memmap in
batches, so a cache larger than RAM works. The runs of one ``fit`` on one backbone (the candidates of a
choice on validation and the final run) share one ``SharedFeatures``: computed once, not once per run.

Under torchrun every rank writes its own block of rows straight into one shared temporary memmap
(the cache folder must be visible to all ranks: one machine, or a shared filesystem), and rank 0
renames it into place once all ranks are done: no rank ever holds the whole (N, D) array.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from ..allocator import tune_allocator
from ..data.images import Preprocess, iter_inputs
from ..data.labelset import LabelledSet
from ..distributed import all_reduce_sum, current, gather_rows, ranks_agree, shard
from ..errors import UserError
from ..models.backbones import Backbone
from ..progress import progress
from .cache import FORMAT, cache_key, open_cache, weights_hash, write_cache

__all__ = [
    "FORMAT",
    "SharedFeatures",
    "cache_key",
    "cached_features",
    "extract_features",
    "features_key",
    "freeze",
    "frozen_features",
    "iter_features",
    "open_cache",
    "weights_hash",
    "write_cache",
]


# ------------------------------------------------------------------ extraction
def freeze(backbone: nn.Module) -> None:
    """Eval mode, no gradients: the frozen scheme's backbone after stage one."""
    backbone.eval()
    for p in backbone.parameters():
        p.requires_grad_(False)


def extraction_batch(device: torch.device) -> int:
    """Images per forward pass when features are computed and no batch is given: 256 on a GPU, whose throughput
    grows with the batch; 32 on a CPU, where a small batch keeps each layer's activations in cache, which is
    faster there and holds a fraction of the memory (``benchmarks/bench_extract_batch.py``, RESULTS.md)."""
    return 256 if device.type == "cuda" else 32


def iter_features(
    backbone: nn.Module,
    images: Any,
    pre: Preprocess,
    *,
    device: torch.device,
    batch_size: int | None,
    num_workers: int,
    quiet: bool,
) -> Iterator[tuple[np.ndarray, torch.Tensor]]:
    """(row indices, features) batch by batch: inference mode, channels_last, autocast on GPU. ``batch_size``
    None: ``extraction_batch(device)``."""
    batch_size = batch_size or extraction_batch(device)
    backbone.eval().to(device)
    cuda = device.type == "cuda"
    if cuda:
        backbone.to(memory_format=torch.channels_last)
    else:
        tune_allocator()  # large activations from a kept heap: faster CPU inference (allocator.py)
    rows_all = shard(len(images), current())  # under torchrun each rank extracts its own block
    batches = [rows_all[i : i + batch_size] for i in range(0, len(rows_all), batch_size)]
    inputs = iter_inputs(images, pre, batches, num_workers=num_workers, pin=cuda)
    bar = progress(total=len(rows_all), desc="features", unit="images", quiet=quiet)
    with torch.inference_mode(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=cuda):
        for rows, x in zip(batches, inputs):
            x = x.to(device, non_blocking=cuda)
            if cuda and x.dim() == 4:
                x = x.contiguous(memory_format=torch.channels_last)
            yield rows, backbone(x).float().cpu()
            bar.update(len(rows))
    bar.close()


def extract_features(
    backbone: nn.Module,
    images: Any,
    pre: Preprocess,
    *,
    device: torch.device,
    batch_size: int | None = None,
    num_workers: int = 0,
    quiet: bool = True,
) -> torch.Tensor:
    """f(x) of every image, computed once, as an (N, D) float32 tensor in memory (gathered over ranks)."""
    parts = [
        f
        for _, f in iter_features(
            backbone, images, pre, device=device, batch_size=batch_size, num_workers=num_workers, quiet=quiet
        )
    ]
    dim = getattr(backbone, "feature_dim", 0)
    return gather_rows(torch.cat(parts) if parts else torch.empty(0, dim), current())


def features_key(backbone: Backbone, data: LabelledSet) -> dict[str, Any]:
    """The feature-cache key: backbone name and weights, preprocessing, image ids (and pixels for tensors);
    for a trunk (``models.split.Trunk``) also its cut."""
    content = ""
    if isinstance(data.images, torch.Tensor):  # in-memory images: their pixels are part of the key
        content = hashlib.sha256(data.images.contiguous().numpy().tobytes()).hexdigest()
    key = cache_key(
        backbone=backbone.name,
        weights=weights_hash(backbone),
        preprocess=backbone.preprocess.to_dict(),
        ids=data.ids,
        content=content,
    )
    cut = getattr(backbone, "cut", None)
    return key if cut is None else {**key, "cut": json.loads(json.dumps(cut))}


def cached_features(
    backbone: Backbone,
    data: LabelledSet,
    *,
    device: torch.device,
    cache_dir: str | None,
    batch_size: int | None = None,
    num_workers: int = 0,
    quiet: bool = True,
    inputs: Any = None,
) -> Any:
    """Features of ``data``: from the cache in ``cache_dir`` when its key matches, else extracted once
    (and stored there). Without a cache folder they stay in memory as float32 (under torchrun:
    gathered on every rank, so give a cache folder for large sets). A trunk's activations (its
    ``output_shape`` (C, H, W)) are cached alike as (N, C, H, W) float16, and held in memory as float16.
    ``inputs``: what ``backbone`` reads for ``data``'s rows instead of ``data.images`` (a top reads its
    trunk's activations; the images still key the cache).

    Raises:
        RuntimeError: under torchrun, when the ranks hold different backbones (their keys differ).
        UserError: under torchrun, when only some ranks see the cache (a folder they do not share).
    """
    pre = backbone.preprocess
    if data.holds_features:  # precomputed embeddings are their own cache
        return data.images
    opts: dict[str, Any] = dict(device=device, batch_size=batch_size, num_workers=num_workers, quiet=quiet)
    images = data.images if inputs is None else inputs
    if cache_dir is None:
        out = extract_features(backbone, images, pre, **opts)
        return out if out.dim() == 2 else out.numpy().astype(np.float16)  # an array: never read as pixels
    key, ctx = features_key(backbone, data), current()
    if not ranks_agree(json.dumps(key, sort_keys=True), ctx):
        raise RuntimeError(
            "the processes hold different backbones (their feature-cache keys differ); "
            "broadcast rank 0's weights before extracting"
        )
    hit = open_cache(cache_dir, key)
    seen = int(all_reduce_sum(np.array([int(hit is not None)], dtype=np.int64), ctx)[0])
    if seen == ctx.world_size:
        return hit
    if seen:
        raise UserError(
            f"only {seen} of {ctx.world_size} processes see the feature cache in {cache_dir}: "
            "--cache-dir must be a folder all processes share"
        )

    def fill(out: np.ndarray) -> None:  # this rank's block of rows (all rows for one process)
        for rows, f in iter_features(backbone, images, pre, **opts):
            out[rows[0] : rows[-1] + 1] = f.numpy().astype(np.float16)

    shape = tuple(backbone.output_shape) if hasattr(backbone, "output_shape") else backbone.feature_dim
    return write_cache(cache_dir, key, shape, fill)


@dataclass(frozen=True)
class SharedFeatures:
    """f(x) of a run's training and validation sets under one frozen backbone, computed once and handed to
    every run that trains heads on them: the candidates of a choice on validation and the run it chose for
    (train/choice.py), which would otherwise extract them again each (or, with a cache, hash the weights
    and read the cache again each).

    ``train`` and ``eval`` are (N, D): float32 tensors in memory, the cache's float16 memmaps, or the sets'
    own rows when they hold features; ``eval`` is None without a validation set.
    """

    backbone: nn.Module
    train_data: LabelledSet
    eval_data: LabelledSet | None
    train: Any
    eval: Any

    def serves(self, backbone: nn.Module, train: LabelledSet, eval_set: LabelledSet | None) -> bool:
        """True when these are the features of ``backbone`` on these very sets (the same objects)."""
        return self.backbone is backbone and self.train_data is train and self.eval_data is eval_set


def frozen_features(
    backbone: Backbone,
    train: LabelledSet,
    eval_set: LabelledSet | None,
    *,
    device: torch.device,
    cache_dir: str | None,
    num_workers: int = 0,
    quiet: bool = True,
) -> SharedFeatures:
    """Freeze ``backbone`` and compute the features of ``train`` and ``eval_set`` (``cached_features``)."""
    freeze(backbone)
    opts: dict[str, Any] = dict(device=device, cache_dir=cache_dir, quiet=quiet, num_workers=num_workers)
    feats = cached_features(backbone, train, **opts)
    return SharedFeatures(
        backbone, train, eval_set, feats, None if eval_set is None else cached_features(backbone, eval_set, **opts)
    )
