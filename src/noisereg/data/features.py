"""Feature cache for the frozen scheme: f(x) of every image computed once, stored as a float16
``.npy`` memmap plus a JSON index, reused across methods, seeds and clean fractions.

The cache key covers everything that changes the features (backbone name, a hash of its weights,
the preprocessing, the image ids in order), so a changed transform or a retrained backbone gets a
new cache instead of stale features. Files are written under temporary names and renamed when
complete; the JSON index is renamed last and marks the cache as usable. Heads read the memmap in
batches, so a cache larger than RAM works.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np
import torch

FORMAT = 1


def weights_hash(module: torch.nn.Module) -> str:
    """SHA-256 over the module's parameters and buffers (names, shapes, bytes): which weights made f(x)."""
    h = hashlib.sha256()
    for name, t in module.state_dict().items():
        h.update(name.encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def cache_key(*, backbone: str, weights: str, preprocess: dict[str, Any], ids: Sequence[str],
              content: str = "") -> dict[str, Any]:
    """Everything that decides the cached features, as a JSON-able dict.

    ``content`` identifies the pixels where ids alone do not (images held in memory).
    """
    ids_hash = hashlib.sha256("\n".join(map(str, ids)).encode()).hexdigest()
    key = {"format": FORMAT, "backbone": backbone, "weights_sha256": weights, "preprocess": preprocess,
           "ids_sha256": ids_hash, "content": content, "n": len(ids)}
    return json.loads(json.dumps(key))  # as it will read back from the JSON index (tuples -> lists)


def _name(key: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]


def open_cache(cache_dir: str | Path, key: dict[str, Any]) -> Optional[np.memmap]:
    """The cached (N, D) float16 features for ``key``, read-only memmap, or None when absent/incomplete."""
    base = Path(cache_dir) / _name(key)
    index, data = base.with_suffix(".json"), base.with_suffix(".npy")
    if not index.is_file() or not data.is_file():
        return None
    try:
        meta = json.loads(index.read_text())
        arr = np.load(data, mmap_mode="r")
    except (ValueError, OSError, json.JSONDecodeError):
        return None
    if meta.get("key") != key or arr.shape != (key["n"], meta.get("dim")) or arr.dtype != np.float16:
        return None
    return arr


def write_cache(cache_dir: str | Path, key: dict[str, Any], dim: int,
                fill: Callable[[np.memmap], None]) -> np.memmap:
    """Create the cache for ``key``: ``fill(out)`` writes the (N, dim) float16 rows, then rename into place."""
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    base = cache_dir / _name(key)
    tmp_data = base.with_name(f".{base.name}.{os.getpid()}.npy.tmp")
    tmp_index = base.with_name(f".{base.name}.{os.getpid()}.json.tmp")
    try:
        out = np.lib.format.open_memmap(tmp_data, mode="w+", dtype=np.float16, shape=(key["n"], dim))
        fill(out)
        out.flush()
        del out
        tmp_index.write_text(json.dumps({"key": key, "dim": dim, "dtype": "float16"}, indent=2))
        os.replace(tmp_data, base.with_suffix(".npy"))
        os.replace(tmp_index, base.with_suffix(".json"))  # last: marks the cache complete
    finally:
        tmp_data.unlink(missing_ok=True)
        tmp_index.unlink(missing_ok=True)
    arr = open_cache(cache_dir, key)
    if arr is None:
        raise OSError(f"the feature cache just written in {cache_dir} cannot be read back")
    return arr
