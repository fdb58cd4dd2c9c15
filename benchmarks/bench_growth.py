"""How head training scales with the number of cached feature rows: one epoch over D_n at
N = 10k, 100k, 1M random float16 rows (D = 1280, EfficientNet-Lite0's size), each N in a fresh
process so peak memory is its own. Time should grow linearly with N and the process's own
(anonymous) memory stay flat apart from the O(N*K) label matrices; memmap pages are reported apart
(RssFile: page cache the kernel can drop at any time).

    python -m benchmarks.bench_growth [--sizes 10000,100000,1000000] [--dim 1280]
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from benchmarks.common import fresh_process, status_kib, write_block


def child(n: int, dim: int, classes: int) -> dict:
    """Build an (n, dim) float16 memmap of random rows and train the heads for one epoch on it."""
    import torch

    from noisereg.config import TrainConfig
    from noisereg.data.labelset import LabelledSet
    from noisereg.train import fit

    torch.set_num_threads(2)
    peak = {"anon": 0, "file": 0}
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak["anon"] = max(peak["anon"], status_kib("RssAnon"))
            peak["file"] = max(peak["file"], status_kib("RssFile"))
            time.sleep(0.05)

    threading.Thread(target=sample, daemon=True).start()
    with tempfile.TemporaryDirectory() as tmp:
        rng = np.random.default_rng(0)
        arr = np.lib.format.open_memmap(Path(tmp) / "f.npy", mode="w+", dtype=np.float16, shape=(n, dim))
        for i in range(0, n, 65536):
            arr[i : i + 65536] = rng.standard_normal((min(65536, n - i), dim), dtype=np.float32)
        arr.flush()
        del arr
        feats = np.load(Path(tmp) / "f.npy", mmap_mode="r")
        y = rng.integers(0, classes, n)
        labels = np.zeros((n, classes), np.float32)
        labels[np.arange(n), y] = 1
        is_clean = np.arange(n) % 10 == 0
        data = LabelledSet(
            images=feats,
            classes=[str(k) for k in range(classes)],
            noisy=labels,
            clean=labels,
            has_noisy=~is_clean,
            has_clean=is_clean,
        )
        base_anon = status_kib("RssAnon")
        peak.update(anon=0, file=0)  # measure training only, not the generation of the random rows
        start = time.perf_counter()
        result = fit(data, TrainConfig(epochs=1, hidden=256, quiet=True, device="cpu"))
        seconds = time.perf_counter() - start
    stop.set()
    return {
        "n": n,
        "steps": len(result.history),
        "seconds": seconds,
        "anon_before_mib": base_anon / 1024,
        "peak_anon_mib": peak["anon"] / 1024,
        "peak_file_mib": peak["file"] / 1024,
        "maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--dim", type=int, default=1280)
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.dim, args.classes)))
        return
    rows = []
    for n in map(int, args.sizes.split(",")):
        rows.append(
            fresh_process(
                [
                    "-m",
                    "benchmarks.bench_growth",
                    "--child",
                    str(n),
                    "--dim",
                    str(args.dim),
                    "--classes",
                    str(args.classes),
                ]
            )
        )
        print(rows[-1], flush=True)
    first = rows[0]
    table = [
        "| rows N | cache size | steps (1 epoch of D_n) | seconds | s per 1k steps | time / N vs first | "
        "process memory (RssAnon) before -> peak, MiB | memmap pages (RssFile) peak, MiB |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        size = r["n"] * args.dim * 2 / 2**20
        table.append(
            f"| {r['n']:,} | {size:,.0f} MiB | {r['steps']:,} | {r['seconds']:.1f} | "
            f"{1000 * r['seconds'] / r['steps']:.2f} | "
            f"{(r['seconds'] / r['n']) / (first['seconds'] / first['n']):.2f} | "
            f"{r['anon_before_mib']:.0f} -> {r['peak_anon_mib']:.0f} | {r['peak_file_mib']:.0f} |"
        )
    oi = 9_011_219 * 2048 * 2
    notes = (
        f"OpenImages arithmetic: 9,011,219 images x 2048 (Inception V3 pool features) x 2 bytes (float16) = "
        f"{oi / 1e9:.1f} GB ({oi / 2**30:.1f} GiB) on disk, read by memmap in batches; the heads' RAM need "
        "does not grow with it. What does grow is the dense label matrices: N x K float32 each for noisy "
        "and clean labels (9M x 6,012 classes would be 216 GB), so OpenImages-scale label sets need a "
        "sparse label store (not done yet)."
    )
    write_block("growth", "\n".join(table), notes)


if __name__ == "__main__":
    main()
