"""Reading OpenImages v1 at full scale: peak memory of the streamed reader vs a plain pandas read.

Writes a synthetic release in the official v1 layout (9,011,219 train images as in the paper, the
167,057 validation images, ``--labels-per-image`` machine labels per image, human labels on
validation, 6,012 trainable classes), then measures, each in a fresh process side by side:
- ``noisereg`` : ``read_openimages`` (chunked, ImageIDs as uint64, sparse labels) + ``summarize``;
- ``pandas``   : ``pd.read_csv`` of the train labels file alone with default dtypes (what a
  straightforward script does before any label matrix exists).
Peak resident memory is each child's VmHWM. Usage:
    python -m benchmarks.bench_openimages_read [--train 9011219] [--labels-per-image 9]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common import fresh_process, write_block

PEAK = "from benchmarks.common import peak_rss_mib as peak_mib"  # the child's own VmHWM
CHILD_NOISEREG = """
import json, sys, time
PEAK
from noisereg.data.sources.openimages import read_openimages
from noisereg.data.check import summarize
t0 = time.perf_counter()
table = read_openimages(sys.argv[1], check_files=False, quiet=True)
s = summarize(table)
print(json.dumps({"seconds": time.perf_counter() - t0, "images": s["images"], "noisy_labels": int(table.noisy.nnz),
                  "classes": s["classes"], "missing": s["noise_rate"]["missing"],
                  "spurious": s["noise_rate"]["spurious"],
                  "peak_mib": peak_mib()}))
"""
CHILD_PANDAS = """
import json, sys, time
PEAK
import pandas as pd
t0 = time.perf_counter()
df = pd.read_csv(sys.argv[1])
print(json.dumps({"seconds": time.perf_counter() - t0, "rows": len(df),
                  "peak_mib": peak_mib()}))
"""


def write_release(root: Path, n_train: int, n_val: int, per_image: int, n_classes: int, seed: int = 0) -> None:
    """The v1 layout with random ids and labels, written in blocks (pandas, no Python loop per row)."""
    import pandas as pd

    from noisereg.data.sources.openimages import format_ids

    rng = np.random.default_rng(seed)
    mids = np.array([f"/m/{i:06x}" for i in range(n_classes)])
    pd.DataFrame({0: mids, 1: [f"class {i}" for i in range(n_classes)]}).to_csv(
        root / "dict.csv", header=False, index=False, quoting=1
    )
    (root / "classes.txt").write_text("\n".join(mids) + "\n")
    ids = format_ids(
        rng.permutation(np.arange(1, 1 << 40, (1 << 40) // (n_train + n_val), dtype=np.uint64))[: n_train + n_val]
    )
    for subset, part in (("train", ids[:n_train]), ("validation", ids[n_train:])):
        for folder, _kind in (("images_2016_08", "images"), ("machine_ann_2016_08", "labels")):
            (root / folder / subset).mkdir(parents=True, exist_ok=True)
        with open(root / "images_2016_08" / subset / "images.csv", "w") as f:
            f.write("ImageID,Subset,OriginalURL,OriginalLandingURL,License,AuthorProfileURL,Author,Title\n")
            for i in range(0, len(part), 1_000_000):
                block = part[i : i + 1_000_000].astype(str)
                pd.DataFrame(
                    {
                        "ImageID": block,
                        "Subset": subset,
                        "OriginalURL": "https://c1.staticflickr.com/x.jpg",
                        "a": "",
                        "b": "https://creativecommons.org/licenses/by/2.0/",
                        "c": "",
                        "d": "x",
                        "e": "t",
                    }
                ).to_csv(f, header=False, index=False)
        with open(root / "machine_ann_2016_08" / subset / "labels.csv", "w") as f:
            f.write("ImageID,Source,LabelName,Confidence\n")
            for i in range(0, len(part), 1_000_000):
                block = np.repeat(part[i : i + 1_000_000].astype(str), per_image)
                cls = rng.zipf(1.3, len(block)) % n_classes
                conf = np.round(rng.uniform(0.5, 1.0, len(block)), 1)
                pd.DataFrame(
                    {"ImageID": block, "Source": "machine", "LabelName": mids[cls], "Confidence": conf}
                ).to_csv(f, header=False, index=False)
    (root / "human_ann_2016_08" / "validation").mkdir(parents=True, exist_ok=True)
    block = np.repeat(ids[n_train:].astype(str), 2)
    pd.DataFrame(
        {
            "ImageID": block,
            "Source": "human",
            "LabelName": mids[rng.zipf(1.3, len(block)) % n_classes],
            "Confidence": rng.integers(0, 2, len(block)),
        }
    ).to_csv(root / "human_ann_2016_08" / "validation" / "labels.csv", index=False)


def child(code: str, arg: str) -> tuple[dict, float]:
    """Run ``code`` in a fresh interpreter; (its JSON output, its own peak RSS in MiB)."""
    code = code.replace("PEAK", PEAK)
    result = fresh_process(["-c", code, arg])
    return result, result["peak_mib"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--train", type=int, default=9_011_219)
    ap.add_argument("--val", type=int, default=167_057)
    ap.add_argument("--labels-per-image", type=int, default=9)
    ap.add_argument("--classes", type=int, default=6012)
    ap.add_argument("--no-record", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        write_release(root, args.train, args.val, args.labels_per_image, args.classes)
        labels = root / "machine_ann_2016_08" / "train" / "labels.csv"
        rows = args.train * args.labels_per_image
        print(
            f"wrote the release in {time.perf_counter() - t0:.0f} s; train labels.csv: {rows:,} rows, "
            f"{labels.stat().st_size / 2**20:,.0f} MiB",
            flush=True,
        )
        plain, plain_peak = child(CHILD_PANDAS, str(labels))
        ours, ours_peak = child(CHILD_NOISEREG, str(root))
    print(f"pandas.read_csv(train labels.csv) : {plain['seconds']:6.1f} s, peak RSS {plain_peak:7,.0f} MiB")
    print(
        f"noisereg read_openimages + summary: {ours['seconds']:6.1f} s, peak RSS {ours_peak:7,.0f} MiB "
        f"(all files: {ours['images']['total']:,} images, {ours['noisy_labels']:,} noisy labels)"
    )
    print(f"memory ratio pandas / noisereg: {plain_peak / ours_peak:.2f}x")
    if not args.no_record:
        table = (
            "| reader | what it reads | seconds | peak RSS (MiB) |\n|---|---|---:|---:|\n"
            f"| pandas.read_csv, default dtypes | train labels.csv only ({rows:,} rows) | "
            f"{plain['seconds']:.1f} | "
            f"{plain_peak:,.0f} |\n"
            "| noisereg read_openimages + data check summary | "
            f"whole release: {ours['images']['total']:,} images, "
            f"{ours['noisy_labels']:,} machine labels, human labels, 6,012 classes | {ours['seconds']:.1f} | "
            f"{ours_peak:,.0f} |\n\nmemory ratio pandas / noisereg: {plain_peak / ours_peak:.2f}x"
        )
        write_block(
            "openimages-read",
            table,
            "Peak RSS is each child process's own high-water mark (VmHWM). Target: under ~2 GiB for the whole release.",
        )


if __name__ == "__main__":
    main()
