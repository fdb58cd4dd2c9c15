"""Heads training on the feature cache vs recomputing the frozen backbone every step (same steps).

The frozen scheme's promise: once f(x) is cached, a head step costs a memmap read and two small
matrix products instead of a backbone forward. Prints seconds per step of both and their ratio.
Both sides are measured the same way in one run: best of 2, the per-step cost taken as the difference
between a long and a short run (so neither side carries its set-up), wall and CPU seconds.

    python -m benchmarks.bench_cache [--backbone efficientnet-lite0] [--image-size 128] [--images 512]
"""

from __future__ import annotations

import argparse
import tempfile

import numpy as np
import torch

from benchmarks.common import SHARED_DATA, timed, timed_both, write_block
from noisereg.config import TrainConfig
from noisereg.data.labelset import LabelledSet, one_hot
from noisereg.features import cached_features, freeze
from noisereg.methods import create_method
from noisereg.models.backbones import create_backbone
from noisereg.train import Classifier, Run, fit


def cifar_like(n: int) -> LabelledSet:
    """``n`` CIFAR-10 training JPEGs from ../shared/data when present, else random 32x32 images."""
    root = SHARED_DATA / "cifar10" / "train"
    classes = sorted(p.name for p in root.iterdir()) if root.is_dir() else [str(k) for k in range(10)]
    y = np.arange(n) % 10
    if root.is_dir():
        images = [str(root / classes[k] / f"{i // 10:04d}.jpg") for i, k in enumerate(y)]
    else:
        images = torch.rand(n, 3, 32, 32)
    is_clean = np.arange(n) % 10 == (np.arange(n) // 10) % 10  # one row in ten, every class in turn
    return LabelledSet(
        images=images,
        classes=classes,
        noisy=one_hot(y, 10),
        clean=one_hot(y, 10),
        has_noisy=~is_clean,
        has_clean=is_clean,
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--backbone", default="efficientnet-lite0")
    ap.add_argument("--image-size", type=int, default=128)
    ap.add_argument("--images", type=int, default=512)
    ap.add_argument("--recompute-steps", type=int, default=8)
    ap.add_argument("--cache-steps", type=int, default=800)
    args = ap.parse_args()
    torch.manual_seed(0)
    data = cifar_like(args.images)
    cfg = TrainConfig(
        scheme="frozen",
        backbone=args.backbone,
        image_size=args.image_size,
        backbone_steps=0,
        hidden=256,
        batch_size=32,
        quiet=True,
        device="cpu",
    )  # one batch for both sides
    backbone = create_backbone(args.backbone, image_size=args.image_size)
    freeze(backbone)
    with tempfile.TemporaryDirectory() as tmp:
        extract_s = timed(lambda: cached_features(backbone, data, device=torch.device("cpu"), cache_dir=tmp))
        # per-step cost without the fixed set-up of a run (building the backbone, hashing its weights,
        # opening the cache): the difference between a long and a short run on the same cache
        short = args.cache_steps // 8
        long_s = timed_both(lambda: fit(data, cfg.replace(steps=args.cache_steps, cache_dir=tmp)), repeat=2)
        short_s = timed_both(lambda: fit(data, cfg.replace(steps=short, cache_dir=tmp)), repeat=2)
        cache_s = [(a - b) * args.cache_steps / (args.cache_steps - short) for a, b in zip(long_s, short_s)]
        # the same heads, but f(x) recomputed by the frozen backbone at every step: measured the same way
        model = Classifier(backbone, create_method("proposed", backbone.feature_dim, 10, cfg))
        heads_only = Classifier(backbone, model.method)

        def recompute(steps: int) -> None:
            Run(data, cfg.replace(steps=steps), None, None).stage(
                model, heads_only, data.images, None, backbone.preprocess, "heads", steps
            )

        few = max(1, args.recompute_steps // 4)
        r_long, r_short = timed_both(lambda: recompute(args.recompute_steps), 2), timed_both(lambda: recompute(few), 2)
        recompute_s = [(a - b) * args.recompute_steps / (args.recompute_steps - few) for a, b in zip(r_long, r_short)]
    per_cache, per_recompute = cache_s[0] / args.cache_steps, recompute_s[0] / args.recompute_steps
    cpu_cache, cpu_recompute = cache_s[1] / args.cache_steps, recompute_s[1] / args.recompute_steps
    table = (
        "| what | steps | wall s | CPU s | wall ms / step | CPU ms / step |\n|---|---:|---:|---:|---:|---:|\n"
        f"| heads on the float16 cache (run set-up excluded) | {args.cache_steps} | {cache_s[0]:.2f} | "
        f"{cache_s[1]:.2f} | {1000 * per_cache:.2f} | {1000 * cpu_cache:.2f} |\n"
        f"| heads + frozen backbone recomputed (set-up excluded the same way) | {args.recompute_steps} | "
        f"{recompute_s[0]:.2f} | {recompute_s[1]:.2f} | {1000 * per_recompute:.1f} | "
        f"{1000 * cpu_recompute:.1f} |\n"
        f"| set-up of a cached run (backbone, weights hash, cache open) | | "
        f"{short_s[0] - short * per_cache:.2f} | | | |\n"
        f"| **speed-up per step** | | | | **{per_recompute / per_cache:.0f}x** | "
        f"**{cpu_recompute / cpu_cache:.0f}x** |\n"
        f"| one-time extraction of {args.images} images | | {extract_s:.2f} | | | |"
    )
    write_block(
        "cache",
        table,
        "The one-time extraction is paid back after "
        f"{extract_s / max(per_recompute - per_cache, 1e-9):.0f} head steps.",
    )


if __name__ == "__main__":
    main()
