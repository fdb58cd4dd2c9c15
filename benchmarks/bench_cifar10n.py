"""The CIFAR-10N benchmark: real human label noise, single- and multi-label, frozen ImageNet features.

EfficientNet-Lite0 (ImageNet weights, installed offline) at 96 px gives 1280-d features of every
image once (feature cache); all heads and baselines train on them. Runs:
1. single-label, ``worse`` labels (40.2% noisy): every single-label method, 5/10/20% clean, N seeds;
2. ``random1`` (17.2%) and ``aggre`` (9.0%): proposed vs the best baseline of run 1;
3. multi-label 2x2 mosaics with the tiles' ``worse`` labels: every multi-label method;
4. cleanlab's CleanLearning (logistic regression on the same features) as an outside peer.

    python benchmarks/bench_cifar10n.py [--steps 1000] [--seeds 3] [--mosaics 10000]
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from _common import SHARED_DATA, append_results
from noisereg.experiment import ExperimentConfig, run_experiment, summary_table

SINGLE = ["proposed", "g-alone", "h-alone", "noisy", "gt", "ft-l", "ft-m", "veit-wp", "veit-tj", "forward",
          "forward-ft", "glc"]
MULTI = ["proposed", "g-alone", "h-alone", "noisy", "gt", "ft-l", "ft-m", "veit-wp", "veit-tj"]
BASELINES = {"ft-l", "ft-m", "veit-wp", "veit-tj", "forward", "forward-ft", "glc"}


def grid(data: str, noise: str, methods: list[str], args, fractions: list[float]) -> tuple[list[dict], float]:
    exp = ExperimentConfig(data=data, noise=noise, methods=methods, clean_fractions=fractions, seeds=args.seeds,
                           train={"steps": args.steps, "hidden": 256, "lr": 1e-3, "eval_every": args.steps // 10},
                           mosaics=args.mosaics, cache_dir=args.cache_dir, out=f"{args.out}/{data}-{noise}")
    start = time.perf_counter()
    rows = run_experiment(exp, quiet=False)
    return rows, time.perf_counter() - start


def best_baseline(rows: list[dict], fraction: float = 0.1) -> str:
    means = {m: np.mean([r["top1"] for r in rows if r["method"] == m and r["clean_fraction"] == fraction])
             for m in {r["method"] for r in rows} & BASELINES}
    return max(means, key=means.get)


def cleanlab_peer(args, fraction: float = 0.1, seed: int = 0) -> str:
    """CleanLearning(LogisticRegression) on the noisy set + clean set (clean labels) features."""
    try:
        from cleanlab.classification import CleanLearning
    except ImportError:
        return "cleanlab is not installed (`pip install cleanlab`): peer not run."
    from sklearn.linear_model import LogisticRegression
    import torch
    from noisereg.experiment import task_builder
    exp = ExperimentConfig(data="cifar10n", noise="worse", cache_dir=args.cache_dir, out=args.out)
    task = task_builder(exp, torch.device("cpu"))(fraction, seed)
    tr = task.train
    x = np.asarray(tr.images, dtype=np.float32)
    y = np.where(tr.has_clean, tr.clean.argmax(1), tr.noisy.argmax(1))
    start = time.perf_counter()
    cl = CleanLearning(LogisticRegression(max_iter=300), cv_n_folds=3, seed=seed).fit(x, y)
    acc = float((cl.predict(np.asarray(task.test.images, dtype=np.float32)) == task.test.clean.argmax(1)).mean())
    plain = LogisticRegression(max_iter=300).fit(x, y)
    acc_plain = float((plain.predict(np.asarray(task.test.images, dtype=np.float32)) ==
                       task.test.clean.argmax(1)).mean())
    return (f"cleanlab 2.x CleanLearning(LogisticRegression, 3-fold), worse labels, {fraction:g} clean (given as "
            f"labels), seed {seed}: top-1 **{100 * acc:.2f}%**; the same logistic regression without cleaning: "
            f"{100 * acc_plain:.2f}% ({time.perf_counter() - start:.0f} s).")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--mosaics", type=int, default=10000)
    ap.add_argument("--cache-dir", default="runs/cache")
    ap.add_argument("--out", default="runs/cifar10n")
    ap.add_argument("--parts", default="single,others,multi,cleanlab")
    args = ap.parse_args()
    if not (SHARED_DATA / "cifar10n").is_dir():
        raise SystemExit("../shared/data/cifar10n is absent")
    fractions = [0.05, 0.1, 0.2]
    parts = args.parts.split(",")
    best = "glc"
    if "single" in parts:
        rows, secs = grid("cifar10n", "worse", SINGLE, args, fractions)
        best = best_baseline(rows)
        append_results(f"CIFAR-10N single-label, worse labels (40.2% noisy), top-1 %, {args.seeds} seeds",
                       summary_table(rows, fractions, ["top1"]),
                       f"Wall time {secs / 60:.1f} min; {args.steps} steps per run and phase, batch 32 (1:9), "
                       f"Adam lr 1e-3, alpha 0.2, heads hidden 256, EfficientNet-Lite0 features at 96 px. "
                       f"Best baseline at 10% clean: {best}.")
    if "others" in parts:
        for noise in ("random1", "aggre"):
            rows, secs = grid("cifar10n", noise, ["proposed", best, "g-alone"], args, fractions)
            append_results(f"CIFAR-10N single-label, {noise} labels, top-1 %, {args.seeds} seeds",
                           summary_table(rows, fractions, ["top1"]), f"Wall time {secs / 60:.1f} min.")
    if "multi" in parts:
        rows, secs = grid("cifar10n-multi", "worse", MULTI, args, fractions)
        append_results(f"CIFAR-10N multi-label 2x2 mosaics, worse labels, {args.seeds} seeds",
                       summary_table(rows, fractions, ["mAP", "AP_all", "top1"]),
                       f"Wall time {secs / 60:.1f} min; {args.mosaics} training mosaics, {args.mosaics // 5} test "
                       "mosaics of test images.")
    if "cleanlab" in parts:
        append_results("Outside peer: cleanlab CleanLearning on the same features", cleanlab_peer(args))


if __name__ == "__main__":
    main()
