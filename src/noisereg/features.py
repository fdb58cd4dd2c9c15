"""Features f(x) of a frozen backbone: extraction, and the on-disk cache of the frozen scheme.

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
import os
import secrets
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .allocator import tune_allocator
from .data.images import Preprocess, iter_inputs
from .data.labelset import LabelledSet
from .distributed import all_reduce_sum, barrier, current, gather_rows, ranks_agree, shard
from .errors import UserError
from .models.backbones import Backbone
from .progress import progress
from .safe_io import output_dir, write_json

FORMAT = 2  # 2: images resized and cropped by torchvision transforms v2


def weights_hash(module: torch.nn.Module) -> str:
    """SHA-256 over the module's parameters and buffers (names, shapes, bytes): which weights made f(x)."""
    h = hashlib.sha256()
    for name, t in module.state_dict().items():
        h.update(name.encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def cache_key(
    *, backbone: str, weights: str, preprocess: dict[str, Any], ids: Sequence[str], content: str = ""
) -> dict[str, Any]:
    """Everything that decides the cached features, as a JSON-able dict.

    ``content`` identifies the pixels where ids alone do not (images held in memory).
    """
    ids_hash = hashlib.sha256("\n".join(map(str, ids)).encode()).hexdigest()
    key = {
        "format": FORMAT,
        "backbone": backbone,
        "weights_sha256": weights,
        "preprocess": preprocess,
        "ids_sha256": ids_hash,
        "content": content,
        "n": len(ids),
    }
    return json.loads(json.dumps(key))  # as it will read back from the JSON index (tuples -> lists)


def _name(key: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]


def open_cache(cache_dir: str | Path, key: dict[str, Any]) -> np.memmap | None:
    """The cached (N, D) float16 features (or (N, C, H, W) trunk activations) for ``key``, read-only memmap,
    or None when absent/incomplete."""
    base = Path(cache_dir) / _name(key)
    index, data = base.with_suffix(".json"), base.with_suffix(".npy")
    if not index.is_file() or not data.is_file():
        return None
    try:
        meta = json.loads(index.read_text())
        arr = np.load(data, mmap_mode="r")
    except (ValueError, OSError, json.JSONDecodeError):
        return None
    shape = (key["n"], *meta.get("shape", [meta.get("dim")]))
    if meta.get("key") != key or arr.shape != shape or arr.dtype != np.float16:
        return None
    return arr


def write_cache(
    cache_dir: str | Path, key: dict[str, Any], dim: int | tuple[int, ...], fill: Callable[[np.memmap], None]
) -> np.memmap:
    """Create the cache for ``key``: ``fill(out)`` writes this process's rows of the (N, dim) float16
    array (``dim`` a tuple: (N, *dim)), then the file is renamed into place and the JSON index written last.

    Under torchrun this is collective: rank 0 creates the temporary file, every rank fills its rows
    of it, and rank 0 renames it after all have flushed (barriers in between), so the index never
    names a half-written array. Every rank returns the finished cache, read-only.
    """
    ctx = current()
    cache_dir = Path(cache_dir)
    base = cache_dir / _name(key)
    tail = (dim,) if isinstance(dim, int) else tuple(dim)
    index = (
        {"key": key, "dim": tail[0], "dtype": "float16"}
        if len(tail) == 1
        else {"key": key, "shape": list(tail), "dtype": "float16"}
    )
    token = int(all_reduce_sum(np.array([secrets.randbits(62) if ctx.is_main else 0], dtype=np.int64), ctx)[0])
    tmp_data = base.with_name(f".{base.name}.{token}.npy.tmp")
    try:
        if ctx.is_main:
            output_dir(cache_dir, "--cache-dir")
            os.close(os.open(tmp_data, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))  # ours: never a planted link
            np.lib.format.open_memmap(tmp_data, mode="w+", dtype=np.float16, shape=(key["n"], *tail)).flush()
        barrier(ctx)
        out = np.load(tmp_data, mmap_mode="r+")
        fill(out)
        out.flush()
        del out
        barrier(ctx)
        if ctx.is_main:
            os.replace(tmp_data, base.with_suffix(".npy"))
            write_json(base.with_suffix(".json"), index, indent=2)  # last
    finally:
        if ctx.is_main:
            tmp_data.unlink(missing_ok=True)
    barrier(ctx)
    arr = open_cache(cache_dir, key)
    if arr is None:
        raise OSError(f"the feature cache just written in {cache_dir} cannot be read back")
    return arr


# ------------------------------------------------------------------ extraction
def freeze(backbone: nn.Module) -> None:
    """Eval mode, no gradients: the frozen scheme's backbone after stage one."""
    backbone.eval()
    for p in backbone.parameters():
        p.requires_grad_(False)


def iter_features(
    backbone: nn.Module,
    images: Any,
    pre: Preprocess,
    *,
    device: torch.device,
    batch_size: int,
    num_workers: int,
    quiet: bool,
) -> Iterator[tuple[np.ndarray, torch.Tensor]]:
    """(row indices, features) batch by batch: inference mode, channels_last, autocast on GPU."""
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
    batch_size: int = 256,
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
    batch_size: int = 256,
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
