"""Shared by the benchmark scripts: machine description, timing, and appending to RESULTS.md."""
from __future__ import annotations

import datetime
import os
import platform
import shlex
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
RESULTS_DIR = Path(__file__).resolve().parent / "results"  # machine-readable results, one CSV per benchmark
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def machine() -> str:
    """One line: CPU count, torch threads, GPU if any, Python and torch versions."""
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (f"{os.cpu_count()} CPU cores ({platform.machine()}), torch {torch.__version__} with "
            f"{torch.get_num_threads()} threads, {gpu}, Python {platform.python_version()}")


def status_kib(field: str) -> int:
    """A memory field of this process from /proc/self/status, in KiB (``VmHWM``: peak resident memory,
    file-backed pages such as touched memmaps included; ``RssAnon``, ``RssFile``: the current split)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def timed(fn: Callable[[], object], repeat: int = 1) -> float:
    """Best wall time of ``repeat`` calls, in seconds."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def timed_both(fn: Callable[[], object], repeat: int = 1) -> tuple[float, float]:
    """(wall, CPU) seconds of the call with the best wall time of ``repeat`` (CPU: every thread of this
    process, so a busy machine shows in wall time but not in CPU time)."""
    best = (float("inf"), float("inf"))
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        best = min(best, (time.perf_counter() - wall, time.process_time() - cpu))
    return best


def command() -> str:
    return "python " + " ".join(shlex.quote(a) for a in [os.path.relpath(sys.argv[0])] + sys.argv[1:])


def append_results(title: str, table: str, notes: str = "") -> None:
    """Print the table and append it, with the command, machine and date, to benchmarks/RESULTS.md."""
    block = (f"\n## {title}\n\n`{command()}` — {datetime.date.today().isoformat()}, {machine()}\n\n"
             f"{table}\n" + (f"\n{notes}\n" if notes else ""))
    print(block)
    if not RESULTS.exists():
        RESULTS.write_text("# Benchmark results\n\nEach block is appended by the script named in it.\n")
    with RESULTS.open("a") as f:
        f.write(block)
