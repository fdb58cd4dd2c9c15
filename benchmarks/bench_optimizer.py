"""Fused Adam against the per-parameter loop it replaced, on the frozen-feature training every benchmark
part runs: the same ``fit`` (proposed, 1280-d features, hidden 256, batch 128, 1 torch thread) with
``make_optimizer`` as shipped and with Adam's reference loop (``foreach=False``), in alternating pairs
within one process. Prints wall and CPU seconds per run and the ratio of each pair.

    python -m benchmarks.bench_optimizer [--rows 20000] [--steps 300] [--pairs 3]
"""
from __future__ import annotations

import argparse
import time
from unittest import mock

import numpy as np
import torch

from benchmarks.common import write_block


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=20000)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--pairs", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(1)
    from noisereg.config import TrainConfig
    from noisereg.data.labelset import LabelledSet
    from noisereg.train import fit, loop
    rng = np.random.default_rng(0)
    y = rng.integers(0, 10, args.rows)
    x = (rng.normal(size=(args.rows, 1280)) + np.eye(10)[y] @ rng.normal(size=(10, 1280))).astype(np.float32)
    onehot = np.eye(10, dtype=np.float32)[y]
    clean = np.arange(args.rows) % 20 == 0
    data = LabelledSet(images=x, classes=[str(i) for i in range(10)], clean=onehot, noisy=onehot, has_noisy=~clean,
                       has_clean=clean)
    cfg = TrainConfig(method="proposed", scheme="frozen", backbone_steps=0, steps=args.steps, batch_size=128,
                      patience=0, eval_every=args.steps, quiet=True, hidden=256)
    shipped = loop.make_optimizer

    def reference(model, c):  # the loop Adam ran before: one kernel per parameter tensor
        groups = [{k: v for k, v in g.items() if k in ("params", "lr", "initial_lr")}
                  for g in shipped(model, c).param_groups]
        return torch.optim.Adam(groups, weight_decay=c.weight_decay, foreach=False, fused=False)

    def run(patched: bool) -> tuple[float, float]:
        with mock.patch("noisereg.train.run.make_optimizer", reference if patched else shipped):
            wall, cpu = time.perf_counter(), time.process_time()
            fit(data, cfg)
            return time.perf_counter() - wall, time.process_time() - cpu

    run(False), run(True)  # warm-up of both
    lines = ["| pair | fused wall s | loop wall s | fused CPU s | loop CPU s | loop / fused (wall) |",
             "|---:|---:|---:|---:|---:|---:|"]
    ratios = []
    for i in range(args.pairs):
        (fw, fc), (lw, lc) = run(False), run(True)
        ratios.append(lw / fw)
        lines.append(f"| {i + 1} | {fw:.2f} | {lw:.2f} | {fc:.2f} | {lc:.2f} | {lw / fw:.2f} |")
    write_block("optimizer", "\n".join(lines),
                f"{args.steps} steps of `proposed` on {args.rows:,} rows of 1280-d features, batch 128, hidden "
                f"256, 1 torch thread, warm-up pair excluded; median ratio {np.median(ratios):.2f}x.")


if __name__ == "__main__":
    main()
