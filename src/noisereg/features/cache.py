"""The on-disk feature cache: f(x) of every image as a float16 ``.npy`` memmap plus a JSON index.

The key covers everything that changes the features (backbone name, a hash of its weights, the
preprocessing, the image ids in order), so a changed transform or a retrained backbone gets a new cache
instead of stale features. Files are written under temporary names and renamed when complete; the JSON
index is renamed last and marks the cache as usable. A backbone cut by ``--train-blocks`` caches its
trunk's activations the same way, as (N, C, H, W) float16 arrays.

Under torchrun every rank writes its own block of rows straight into one shared temporary memmap (the
cache folder must be visible to all ranks), and rank 0 renames it into place once all ranks are done.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..distributed import all_reduce_sum, barrier, current
from ..safe_io import output_dir, write_json

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
