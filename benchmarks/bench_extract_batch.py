"""Feature extraction batch size on a CPU: images/s and peak memory of the frozen backbone's forward pass per
batch size, each in a fresh process (peak memory is per process), side by side in one run, as ratios to the
batch 256 that extraction used everywhere before; the default it sets is ``features.extraction_batch``.

    python -m benchmarks.bench_extract_batch [--backbone efficientnet-lite0] [--images 256] [--sizes 128,224]
"""

from __future__ import annotations

import argparse
import json
import time

from benchmarks.common import fresh_process, peak_rss_mib, write_block

BATCHES = (16, 32, 64, 128, 256)


def child(backbone_name: str, size: int, batch: int, n: int) -> None:
    """One configuration: ``n`` random images through ``extract_features`` (the library's own path: inference
    mode, channels_last) at ``batch``; prints images/s and this process's peak memory as JSON."""
    import torch

    from noisereg.features import extract_features
    from noisereg.models.backbones import create_backbone

    backbone = create_backbone(backbone_name, image_size=size).eval()
    images = torch.rand(n, 3, size, size)
    pre = backbone.preprocess
    extract_features(backbone, images[:batch], pre, device=torch.device("cpu"), batch_size=batch)  # warm-up
    start = time.perf_counter()
    extract_features(backbone, images, pre, device=torch.device("cpu"), batch_size=batch)
    rate = n / (time.perf_counter() - start)
    print(json.dumps({"images_per_s": rate, "peak_rss_mib": peak_rss_mib()}))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--backbone", default="efficientnet-lite0")
    ap.add_argument("--images", type=int, default=256)
    ap.add_argument("--sizes", default="128,224")
    ap.add_argument("--child", nargs=3, type=int, metavar=("SIZE", "BATCH", "N"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.backbone, *args.child)
        return
    start = time.perf_counter()
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        runs = {
            b: fresh_process(
                [
                    "-m",
                    "benchmarks.bench_extract_batch",
                    "--backbone",
                    args.backbone,
                    "--child",
                    str(size),
                    str(b),
                    str(args.images),
                ]
            )
            for b in BATCHES
        }
        ref = runs[256]
        for b, r in runs.items():
            rows.append(
                f"| {size} px | {b} | {r['images_per_s']:.1f} | {r['images_per_s'] / ref['images_per_s']:.2f}x "
                f"| {r['peak_rss_mib']:,.0f} | {r['peak_rss_mib'] / ref['peak_rss_mib']:.2f}x |"
            )
    table = (
        "| input | batch | images/s | speed vs batch 256 | peak memory (MiB) | memory vs batch 256 |\n"
        "|---|---:|---:|---:|---:|---:|\n" + "\n".join(rows)
    )
    write_block(
        "extract-batch",
        table,
        f"{args.backbone}, {args.images} random images per configuration, each configuration in a fresh process "
        "after one warm-up batch; peak memory is the whole process's (the model and the images included).",
        wall_s=time.perf_counter() - start,
    )


if __name__ == "__main__":
    main()
