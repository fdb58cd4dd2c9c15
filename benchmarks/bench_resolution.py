"""Which input size for the frozen EfficientNet-Lite0 features of CIFAR-10, chosen on validation.

3,000 CIFAR-10 *training* images (the test split is never read): features at each size, a logistic
regression probe trained on 2,000 of them with their clean labels and scored on the other 1,000.
Writes benchmarks/results/resolution.csv (size, images/s of extraction, validation accuracy).

    python -m benchmarks.bench_resolution [--sizes 96,128,160,224]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from benchmarks.common import RESULTS_DIR, SHARED_DATA, ResultsTable, write_block


def main() -> None:
    from sklearn.linear_model import LogisticRegression

    from noisereg.data.sources.cifar_n import load_cifar_n_labels, train_image_paths
    from noisereg.features import extract_features
    from noisereg.models.backbones import create_backbone

    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="96,128,160,224")
    args = ap.parse_args()
    clean = load_cifar_n_labels(SHARED_DATA / "cifar10n" / "CIFAR-10_human.pt")["clean_label"]
    paths = train_image_paths(SHARED_DATA / "cifar10", clean)
    idx = np.random.default_rng(0).permutation(len(paths))[:3000]
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        backbone = create_backbone("efficientnet-lite0", image_size=size)
        start = time.perf_counter()
        f = extract_features(
            backbone, [paths[i] for i in idx], backbone.preprocess, device=torch.device("cpu"), batch_size=64
        ).numpy()
        speed = len(idx) / (time.perf_counter() - start)
        probe = LogisticRegression(max_iter=2000, C=0.5).fit(f[:2000], clean[idx[:2000]])
        rows.append(
            {
                "size": size,
                "images_per_s": round(speed, 1),
                "val_top1": round(float(probe.score(f[2000:], clean[idx[2000:]])), 4),
            }
        )
        print(rows[-1], flush=True)
    ResultsTable(RESULTS_DIR / "resolution.csv", tuple(rows[0])).write(rows)
    write_block(
        "resolution",
        "| size (px) | extraction images/s | probe val top-1 |\n|---:|---:|---:|\n"
        + "\n".join(f"| {r['size']} | {r['images_per_s']} | {100 * r['val_top1']:.1f} |" for r in rows),
    )


if __name__ == "__main__":
    main()
