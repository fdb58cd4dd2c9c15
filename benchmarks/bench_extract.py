"""Feature extraction throughput: the full pipeline (JPEG decode + resize + backbone) vs the raw
backbone forward on pre-loaded tensors, plus JPEG decoding alone, so the bottleneck is named.

    python -m benchmarks.bench_extract [--backbone efficientnet-lite0] [--image-size 128] [--images 256]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from benchmarks.common import SHARED_DATA, timed, write_block
from noisereg.data.images import ImageFiles, image_to_tensor, load_image
from noisereg.features import extract_features
from noisereg.models.backbones import create_backbone


def jpeg_paths(n: int, tmp: Path) -> list[str]:
    """CIFAR-10 JPEGs from ../shared/data, or ``n`` random 32x32 JPEGs written to ``tmp``."""
    root = SHARED_DATA / "cifar10" / "test" / "airplane"
    if root.is_dir():
        return [str(p) for p in sorted(root.glob("*.jpg"))[:n]]
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(tmp / f"{i}.jpg")
    return [str(tmp / f"{i}.jpg") for i in range(n)]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--backbone", default="efficientnet-lite0")
    ap.add_argument("--image-size", type=int, default=128)
    ap.add_argument("--images", type=int, default=256)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--workers", type=int, default=0)
    args = ap.parse_args()
    backbone = create_backbone(args.backbone, image_size=args.image_size).eval()
    pre, cpu = backbone.preprocess, torch.device("cpu")
    with tempfile.TemporaryDirectory() as tmp:
        paths = jpeg_paths(args.images, Path(tmp))
        n = len(paths)
        decode_s = timed(lambda: [load_image(p) for p in paths])
        prep_s = timed(lambda: [image_to_tensor(load_image(p), pre) for p in paths])
        loaded = torch.stack([ImageFiles(paths, pre)[i] for i in range(n)])

        def raw() -> None:
            with torch.inference_mode():
                for i in range(0, n, args.batch_size):
                    backbone(loaded[i : i + args.batch_size])

        raw_s = timed(raw, repeat=2)
        pipe_s = timed(
            lambda: extract_features(
                backbone, paths, pre, device=cpu, batch_size=args.batch_size, num_workers=args.workers
            ),
            repeat=2,
        )
    rate = lambda s: f"{n / s:,.0f}"  # noqa: E731
    table = (
        "| stage | images/s |\n|---|---:|\n"
        f"| JPEG decode only (PIL) | {rate(decode_s)} |\n"
        f"| decode + resize + normalise | {rate(prep_s)} |\n"
        f"| raw backbone forward on pre-loaded tensors | {rate(raw_s)} |\n"
        f"| full extraction pipeline (`extract_features`, {args.workers} workers) | {rate(pipe_s)} |\n"
        f"| **pipeline / raw forward** | **{raw_s / pipe_s:.2f}** |"
    )
    bottleneck = "the backbone forward" if raw_s > prep_s else "image decoding/preprocessing"
    write_block(
        "extract",
        table,
        f"Bottleneck here: {bottleneck} (decode+preprocess {prep_s / n * 1000:.2f} ms/img vs forward "
        f"{raw_s / n * 1000:.2f} ms/img).",
    )


if __name__ == "__main__":
    main()
