"""glibc's allocator set for CPU inference: large blocks kept in the heap instead of mapped and unmapped
on every forward pass.

With glibc's defaults every large activation tensor of a CNN forward pass on the CPU is a fresh
``mmap`` whose pages fault in again and are returned at ``free``; EfficientNet-Lite0 at 160 px then
spends most of its time in page faults. Keeping a padded heap (``M_TOP_PAD``) that is never trimmed
back (``M_TRIM_THRESHOLD``) and serving blocks up to glibc's 32 MiB ceiling from it
(``M_MMAP_THRESHOLD``) made feature extraction here several times faster (``benchmarks/bench_allocator.py``;
the figures in benchmarks/RESULTS.md, "CPU feature extraction: glibc heap kept vs glibc defaults").
The cost: memory freed after a peak stays with the process until it exits.

Applied by the command line and by the feature / annotator passes (library use); a no-op off
glibc, and skipped when ``NOISEREG_MALLOC=system`` (or when the user set glibc's own ``MALLOC_*_``
variables, which then decide).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3
SETTINGS = {M_TOP_PAD: 1 << 30, M_TRIM_THRESHOLD: 1 << 34, M_MMAP_THRESHOLD: 32 << 20}


def tune_allocator() -> bool:
    """Set glibc's heap for large, short-lived CPU tensors (see the module); idempotent, so every pass that
    needs it may call it. Returns whether it is set."""
    wanted = (
        sys.platform.startswith("linux")
        and os.environ.get("NOISEREG_MALLOC", "") != "system"
        and not any(k.startswith("MALLOC_") and k.endswith("_") for k in os.environ)
    )
    if not wanted:
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return all(libc.mallopt(k, v) == 1 for k, v in SETTINGS.items())
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
