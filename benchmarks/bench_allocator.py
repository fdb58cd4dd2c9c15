"""CPU feature extraction with glibc's heap kept (``noisereg.allocator``, the default) against glibc's
defaults (``NOISEREG_MALLOC=system``): EfficientNet-Lite0 at 160 px over the same in-memory images, each
side in a fresh process (the allocator is process-wide), in alternating pairs within one run. Prints
images/s of both sides and the ratio of each pair.

    python -m benchmarks.bench_allocator [--images 512] [--pairs 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import os

import numpy as np

from benchmarks.common import fresh_process, write_block

CHILD = """
import json, sys, time, torch
torch.set_num_threads({threads})
from noisereg.allocator import tune_allocator
from noisereg.features import extract_features
from noisereg.models.backbones import create_backbone
net = create_backbone("efficientnet-lite0", image_size=160).eval()
x = torch.rand({images}, 3, 160, 160, generator=torch.Generator().manual_seed(0))
extract_features(net, x[:64], net.preprocess, device=torch.device("cpu"), batch_size=64)  # warm-up
wall, cpu = time.perf_counter(), time.process_time()
extract_features(net, x, net.preprocess, device=torch.device("cpu"), batch_size=128)
print(json.dumps({{"rate": {images} / (time.perf_counter() - wall), "cpu": time.process_time() - cpu,
                  "kept": tune_allocator()}}))
"""


def side(images: int, threads: int, system: bool) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    env["NOISEREG_MALLOC"] = "system" if system else ""
    return fresh_process(["-c", CHILD.format(images=images, threads=threads)], env=env)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=512)
    ap.add_argument("--pairs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    lines = [
        "| pair | kept heap images/s | glibc defaults images/s | kept CPU s | defaults CPU s | ratio |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    ratios = []
    for i in range(args.pairs):
        kept, system = side(args.images, args.threads, False), side(args.images, args.threads, True)
        assert kept["kept"] and not system["kept"], (kept, system)
        ratios.append(kept["rate"] / system["rate"])
        lines.append(
            f"| {i + 1} | {kept['rate']:.1f} | {system['rate']:.1f} | {kept['cpu']:.1f} | "
            f"{system['cpu']:.1f} | {ratios[-1]:.2f} |"
        )
    write_block(
        "allocator",
        "\n".join(lines),
        f"{args.images} in-memory images, EfficientNet-Lite0 at 160 px, batch 128, {args.threads} torch "
        f"threads, each side a fresh process after a 64-image warm-up; median ratio "
        f"{np.median(ratios):.2f}x.",
    )


if __name__ == "__main__":
    main()
