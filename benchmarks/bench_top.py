"""What training only the top of the backbone costs (``--train-blocks K``, issue 42): one optimisation step
(forward, backward, optimizer step) of the top on cached float16 trunk activations against one of the whole
network on the images, at the same batch, side by side in one process: EfficientNet-Lite0 (ImageNet weights)
with Backbone (Noisy)'s linear classifier, in interleaved triples (whole, top K=2, top K=5, the order rotated
each time), the ratio per triple and its median; and the one-time trunk pass per image (inference, the cost
of filling the cache), beside the whole network's inference. On a busy machine the absolute times move; the
ratios of neighbouring steps hold. One torch thread by default: on cores shared with other work, two threads
wait on each other at every operation, which costs the top's many small operations most and so understates
the ratio.

    python -m benchmarks.bench_top [--sizes 128,224] [--batches 32,128] [--blocks 2,5] [--pairs 5] [--threads 1]

Writes benchmarks/results/top_cost.csv (one row per triple and K, with the commit and machine) and prints
the table; ``benchmarks/make_results.py`` renders it into RESULTS.md.
"""

from __future__ import annotations

import argparse
import datetime
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from benchmarks.common import RESULTS_DIR, ResultsTable, commit, machine
from noisereg.config import TrainConfig
from noisereg.methods import Batch
from noisereg.models.backbones import create_backbone
from noisereg.models.split import describe_top, split_backbone
from noisereg.train.loop import make_optimizer
from noisereg.train.model import Classifier, stage_one_model

CLASSES = 10


def stepper(model: Classifier, inputs: Callable[[], torch.Tensor], batch: int) -> Callable[[], float]:
    """One timed optimisation step of ``model`` (train mode, Adam over what trains) on ``inputs()``."""
    optimizer = make_optimizer(model, TrainConfig(lr=1e-4, quiet=True))
    targets = torch.eye(CLASSES)[torch.arange(batch) % CLASSES]
    mask, is_clean = torch.ones(batch, CLASSES), torch.zeros(batch, dtype=torch.bool)
    model.train()

    def step() -> float:
        start = time.perf_counter()
        x = inputs()
        loss = model(x, Batch(x, targets, mask, is_clean))["loss"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return time.perf_counter() - start

    return step


def per_image_ms(module: torch.nn.Module, x: torch.Tensor) -> float:
    """Inference milliseconds per image of ``module`` on ``x`` (best of 2)."""
    module.eval()
    best = float("inf")
    with torch.inference_mode():
        for _ in range(2):
            start = time.perf_counter()
            module(x)
            best = min(best, time.perf_counter() - start)
    return 1000 * best / len(x)


def measure(size: int, batch: int, blocks: list[int], pairs: int) -> list[dict[str, Any]]:
    """Interleaved steps of the whole network and of each top at one image size and batch."""
    torch.manual_seed(0)
    images = torch.randn(batch, 3, size, size)
    whole = stage_one_model(create_backbone("efficientnet-lite0", image_size=size), CLASSES)
    steps = {0: stepper(whole, lambda: images, batch)}
    facts = {}
    for k in blocks:
        backbone = create_backbone("efficientnet-lite0", image_size=size)
        trunk, top = split_backbone(backbone, k, frozen_bn=True)
        with torch.inference_mode():
            acts = trunk.eval()(images).numpy().astype(np.float16)  # what the cache holds
        steps[k] = stepper(
            Classifier(top, stage_one_model(backbone, CLASSES).method),
            lambda a=acts: torch.from_numpy(a.astype(np.float32)),
            batch,
        )
        facts[k] = dict(
            trained=describe_top(backbone, k),
            activation="x".join(map(str, acts.shape[1:])),
            trunk_ms=per_image_ms(trunk, images[:32]),
        )
    whole_ms = per_image_ms(whole.backbone, images[:32])
    order = [0, *blocks]
    for k in order:
        steps[k]()  # warm-up
    rows = []
    for p in range(pairs):
        turn = order[p % len(order) :] + order[: p % len(order)]  # rotated: no part always runs first
        seconds = {k: steps[k]() for k in turn}
        for k in blocks:
            rows.append(
                dict(
                    image_size=size,
                    batch=batch,
                    train_blocks=k,
                    trained=facts[k]["trained"],
                    activation=facts[k]["activation"],
                    pair=p + 1,
                    whole_s=round(seconds[0], 4),
                    top_s=round(seconds[k], 4),
                    ratio=round(seconds[0] / seconds[k], 2),
                    trunk_ms_per_image=round(facts[k]["trunk_ms"], 2),
                    whole_ms_per_image=round(whole_ms, 2),
                )
            )
        print(
            f"{size} px, batch {batch}, pair {p + 1}: whole {seconds[0]:.3f} s, "
            + ", ".join(f"top K={k} {seconds[k]:.3f} s ({seconds[0] / seconds[k]:.1f}x)" for k in blocks),
            flush=True,
        )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="128,224")
    ap.add_argument("--batches", default="32,128")
    ap.add_argument("--blocks", default="2,5")
    ap.add_argument("--pairs", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    ints = lambda s: [int(v) for v in s.split(",")]  # noqa: E731
    rows = [
        r
        for size in ints(args.sizes)
        for batch in ints(args.batches)
        for r in measure(size, batch, ints(args.blocks), args.pairs)
    ]
    stamp = dict(commit=commit(), date=datetime.date.today().isoformat(), machine=machine())
    ResultsTable(RESULTS_DIR / "top_cost.csv", (*rows[0], *stamp)).write([{**r, **stamp} for r in rows])
    for (size, batch, k), ratios in sorted(groups(rows).items()):
        print(f"{size} px, batch {batch}, K={k}: median ratio {np.median(ratios):.1f}x over {len(ratios)} pairs")


def groups(rows: list[dict[str, Any]]) -> dict[tuple[int, int, int], list[float]]:
    """Ratios per (image size, batch, K)."""
    out: dict[tuple[int, int, int], list[float]] = {}
    for r in rows:
        out.setdefault((int(r["image_size"]), int(r["batch"]), int(r["train_blocks"])), []).append(float(r["ratio"]))
    return out


if __name__ == "__main__":
    main()
