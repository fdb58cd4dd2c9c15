"""OpenImages-sized training in bounded memory: peak RSS, steps/s and evaluation time as the training set
grows to OpenImages v1's 9,011,219 images (the paper's largest experiment).

For each size N a synthetic OpenImages-shaped set is written under ``--work`` (deleted after each size):
- train: N rows of float16 features f(x) (D = 1,280, EfficientNet-Lite0's width) in one ``.npy`` memmap,
  random bit patterns (finite, in [0, 2)); machine labels on every row (9 draws from a Zipf(1.3) over
  6,012 classes, as bench_openimages_read.py, repeats collapsed); human labels on 0.44% of the rows (the
  paper's 40K clean of 9M): the row's machine labels verified, each confirmed with probability 0.7 (an
  assumption), the verified classes kept as the clean-label mask;
- val: 1,000 human-labelled rows: the run's validation, evaluated once, at the last step;
- test: human-labelled rows in the paper's proportion (120K per 9M, 1.33% of N), scored afterwards.
A fresh process then memory-maps the features, reads the CSR labels, trains ``proposed`` on them (heads
on the features, hidden 256, alpha 0.1 as the paper on OpenImages, batches of 32 at 1:9) for ``--steps``
steps and evaluates it on the test rows with the streaming evaluation. Its peak RSS is its VmHWM:
everything it allocated plus every page of the memmaps it touched. Features are random, so the metrics
are at chance level: this measures time and memory only.

    python -m benchmarks.bench_scale [--sizes 100000,1000000,9011219] [--steps 300] [--work runs/bench_scale]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from pathlib import Path

import numpy as np

from benchmarks.common import RESULTS_DIR, ResultsTable, fresh_process, peak_rss_mib, write_block

CLASSES, DIM, PER_IMAGE, CONFIRMED = 6012, 1280, 9, 0.7
CLEAN_SHARE = 40_000 / 9_011_219  # the paper's clean training images per training image
TEST_SHARE = 120_000 / 9_011_219  # its test images per training image
VAL_ROWS, BLOCK = 1000, 1 << 18
COLUMNS = [
    "rows",
    "classes",
    "peak_rss_mib",
    "steps_per_s",
    "eval_s",
    "eval_rows",
    "steps",
    "fit_s",
    "cpu_ms_per_step",
    "eval_cpu_s",
    "load_s",
    "features_gib",
    "labels_per_image",
    "load_average",
]


def machine_labels(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """CSR (indptr, indices) of ``PER_IMAGE`` Zipf(1.3) draws per row with repeats collapsed."""
    counts, indices = [], []
    for start in range(0, n, BLOCK):
        cls = np.sort(rng.zipf(1.3, (min(BLOCK, n - start), PER_IMAGE)) % CLASSES, axis=1)
        new = np.ones(cls.shape, bool)
        new[:, 1:] = cls[:, 1:] != cls[:, :-1]
        counts.append(new.sum(1))
        indices.append(cls[new].astype(np.int32))
    return np.r_[0, np.cumsum(np.concatenate(counts))].astype(np.int64), np.concatenate(indices)


def human_labels(
    rng: np.random.Generator, indptr: np.ndarray, indices: np.ndarray, rows: np.ndarray
) -> dict[str, np.ndarray]:
    """Clean labels of ``rows`` (bool mask): their machine labels verified, each confirmed with prob. 0.7."""
    counts = np.diff(indptr) * rows
    on_row = np.repeat(rows, np.diff(indptr))
    verified = indices[on_row]
    confirmed = rng.random(len(verified)) < CONFIRMED
    per_row_confirmed = np.bincount(
        np.repeat(np.arange(len(counts)), counts), weights=confirmed, minlength=len(counts)
    ).astype(np.int64)
    return {
        "verified_indptr": np.r_[0, np.cumsum(counts)],
        "verified_indices": verified,
        "clean_indptr": np.r_[0, np.cumsum(per_row_confirmed)],
        "clean_indices": verified[confirmed],
    }


def write_split(root: Path, name: str, n: int, clean_share: float, noisy: bool, seed: int) -> None:
    """``<name>.npy`` (n, DIM) float16 features and ``<name>.labels.npz`` (CSR parts, no pickle)."""
    rng = np.random.default_rng(seed)
    out = np.lib.format.open_memmap(root / f"{name}.npy", mode="w+", dtype=np.float16, shape=(n, DIM))
    for start in range(0, n, BLOCK // 4):
        rows = min(BLOCK // 4, n - start)
        bits = np.frombuffer(rng.bytes(rows * DIM * 2), np.uint16).reshape(rows, DIM)
        out[start : start + rows] = (bits & np.uint16(0x3FFF)).view(np.float16)  # sign, top exponent bit off
    out.flush()
    del out
    indptr, indices = machine_labels(rng, n)
    has_clean = rng.random(n) < clean_share if clean_share < 1 else np.ones(n, bool)
    parts = human_labels(rng, indptr, indices, has_clean)
    if noisy:
        parts.update(noisy_indptr=indptr, noisy_indices=indices)
    np.savez(root / f"{name}.labels.npz", has_clean=has_clean, **parts)


def write(root: Path, n: int) -> dict:
    """The three splits of size ``n`` (run in its own process, so the measured one starts clean)."""
    root.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    write_split(root, "train", n, CLEAN_SHARE, noisy=True, seed=n)
    write_split(root, "val", VAL_ROWS, 1.0, noisy=False, seed=n + 1)
    write_split(root, "test", max(1000, round(n * TEST_SHARE)), 1.0, noisy=False, seed=n + 2)
    size = sum(p.stat().st_size for p in root.iterdir())
    return {"write_s": time.perf_counter() - start, "disk_gib": size / 2**30}


def load_split(root: Path, name: str):
    """A split as the library holds it: memmapped features, CSR labels, verified-class mask."""
    import scipy.sparse as sp

    from noisereg.data.labelset import LabelledSet

    feats = np.load(root / f"{name}.npy", mmap_mode="r")
    parts = np.load(root / f"{name}.labels.npz", allow_pickle=False)
    n = len(feats)

    def csr(prefix: str, dtype: type) -> sp.csr_matrix:
        if f"{prefix}_indptr" not in parts:
            return sp.csr_matrix((n, CLASSES), dtype=dtype)
        indices = parts[f"{prefix}_indices"]
        return sp.csr_matrix((np.ones(len(indices), dtype), indices, parts[f"{prefix}_indptr"]), shape=(n, CLASSES))

    noisy = csr("noisy", np.float32)
    return LabelledSet(
        images=feats,
        classes=[f"/m/{k:05x}" for k in range(CLASSES)],
        noisy=noisy,
        clean=csr("clean", np.float32),
        has_noisy=np.full(n, noisy.nnz > 0),
        has_clean=parts["has_clean"],
        clean_mask=csr("verified", bool),
    )


def measure(root: Path, steps: int, threads: int) -> dict:
    """Load, train ``proposed`` for ``steps`` steps (validation once, at the end), evaluate on test.

    Wall and CPU time both: on a shared machine the wall time carries other processes' load, the
    process's CPU time does not."""
    import torch

    from noisereg.config import TrainConfig
    from noisereg.train import evaluate, fit

    torch.set_num_threads(threads)
    start = time.perf_counter()
    train, val, test = (load_split(root, s) for s in ("train", "val", "test"))
    loaded, cpu0 = time.perf_counter(), time.process_time()
    cfg = TrainConfig(
        method="proposed",
        scheme="frozen",
        steps=steps,
        alpha=0.1,
        eval_every=steps,
        patience=0,
        quiet=True,
        device="cpu",
    )
    result = fit(train, cfg, eval_set=val)
    trained, cpu1 = time.perf_counter(), time.process_time()
    scores = evaluate(result.model, test, result.preprocess, device=torch.device("cpu"))
    done, cpu2 = time.perf_counter(), time.process_time()
    return {
        "rows": len(train),
        "classes": CLASSES,
        "peak_rss_mib": round(peak_rss_mib()),
        "steps_per_s": round(steps / (trained - loaded), 3),
        "eval_s": round(done - trained, 1),
        "eval_rows": int(test.has_clean.sum()),
        "steps": steps,
        "fit_s": round(trained - loaded, 1),
        "cpu_ms_per_step": round(1000 * (cpu1 - cpu0) / steps, 1),
        "eval_cpu_s": round(cpu2 - cpu1, 1),
        "load_s": round(loaded - start, 1),
        "features_gib": round(train.images.nbytes / 2**30, 2),
        "labels_per_image": round(train.noisy.nnz / len(train), 2),
        "clean_rows": int(train.has_clean.sum()),
        "load_average": round(os.getloadavg()[0], 1),
        "test_scores": {k: round(v, 4) for k, v in scores.items()},
    }


def child(*args: str) -> dict:
    return fresh_process(["-m", "benchmarks.bench_scale", *args])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="100000,1000000,9011219", help="training rows, comma-separated")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads of the measured process (default 1: "
        "on a shared machine a second thread mostly waits for the first)",
    )
    ap.add_argument("--work", default="runs/bench_scale", help="folder of the synthetic data (deleted after each size)")
    ap.add_argument("--write", help=argparse.SUPPRESS)
    ap.add_argument("--measure", help=argparse.SUPPRESS)
    ap.add_argument("--no-record", action="store_true")
    args = ap.parse_args()
    if args.write or args.measure:
        print(
            json.dumps(
                write(Path(args.write), int(args.sizes))
                if args.write
                else measure(Path(args.measure), args.steps, args.threads)
            )
        )
        return
    rows, work = [], Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    for n in map(int, args.sizes.split(",")):
        root = work / f"n{n}"
        need = (n + round(n * TEST_SHARE) + VAL_ROWS) * DIM * 2 * 1.1 / 2**30
        free = shutil.disk_usage(work).free / 2**30
        if need > free:
            print(f"{n:,} rows need ~{need:.0f} GiB, {free:.0f} GiB free: stopping here", flush=True)
            break
        try:
            written = child("--write", str(root), "--sizes", str(n))
            rows.append(
                {**child("--measure", str(root), "--steps", str(args.steps), "--threads", str(args.threads)), **written}
            )
        finally:
            shutil.rmtree(root, ignore_errors=True)
        print(json.dumps(rows[-1]), flush=True)
    if rows and not args.no_record:
        record(rows)


def record(rows: list[dict]) -> None:
    """benchmarks/results/scale.csv and a block of RESULTS.md."""
    ResultsTable(RESULTS_DIR / "scale.csv", tuple(COLUMNS)).write(rows)
    first = rows[0]["cpu_ms_per_step"]
    table = [
        "| training rows | features on disk | peak RSS (MiB) | steps/s (wall) | CPU ms / step | vs smallest | "
        "test rows | evaluation s (wall) | evaluation CPU s | load s | load average |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    table += [
        f"| {r['rows']:,} | {r['features_gib']:.1f} GiB | {r['peak_rss_mib']:,} | {r['steps_per_s']:.2f} | "
        f"{r['cpu_ms_per_step']:.0f} | {r['cpu_ms_per_step'] / first:.2f} | {r['eval_rows']:,} | "
        f"{r['eval_s']:.0f} | {r['eval_cpu_s']:.0f} | {r['load_s']:.0f} | {r['load_average']:.1f} |"
        for r in rows
    ]
    notes = (
        f"{CLASSES:,} classes, D = {DIM}, `proposed` (hidden 256), {rows[0]['steps']:,} steps of batch 32 "
        f"(1:9) from random rows of the memmap, 1 torch thread; steps/s = steps / fit wall time and CPU ms / "
        f"step = fit CPU time / steps (set-up and one validation on {VAL_ROWS:,} rows included in both); "
        f"evaluation = the streaming mAP / AP_all / top-1 on the test rows (two passes); load = reading the "
        f"CSR labels; load average = the machine's 1-minute load after the run (2 cores). Machine labels per "
        f"image after collapsing repeats: {rows[-1]['labels_per_image']}. Peak RSS is the measuring process's "
        f"VmHWM, memmap pages included."
    )
    write_block("scale", "\n".join(table), notes)


if __name__ == "__main__":
    main()
