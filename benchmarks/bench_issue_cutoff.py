"""The label-issue default when no validation images can choose a cut-off: the contradiction rule
(``noisereg.label_issues.scores.contradicted``: flag a label when g's top class is not the given one and
beats it by more than a margin; multi-label, the same per (image, class) entry), measured against the
known truth of CIFAR-10N's human label sets, per margin, beside the old default (posterior <= 0.5) and
the cut-off chosen on validation images whose noisy and clean labels are both known.

Sized for 2 CPU cores: seeded subsets of ``--rows`` CIFAR-10 training images (each size a prefix of one
seeded order, so a small set is part of a larger one; frozen EfficientNet-Lite0 features at ``--image-size``
px, cached in ``--cache-dir``), ``--clean`` of them clean; ``proposed`` trained
with bench_label_issues.py's pinned settings, its validation images a share of the clean set (which has no
noisy labels in training, so the library's default rule applies); every noisy label scored once, then
flagged by each rule. Multi-label: ``--mosaics`` 2x2 mosaics of the tiles' ``worse`` labels. Per row:
flagged labels, precision and recall against the truth, F1, and for the flags that are wrong labels how
often the suggestion (``predicted_label``) is the true class. Writes ``benchmarks/results/issue_cutoff.csv``
(this run's rows replace those of the same part, noise, size and seed); ``make_results.py`` renders it.

    python -m benchmarks.bench_issue_cutoff [--noises worse,random1,aggre] [--rows 8000,1000] [--mosaics 2000]
        [--seeds 0,1,2] [--margins 0,0.02,0.05,0.1,0.2,0.3]
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import os
import time
from pathlib import Path

import numpy as np

from benchmarks.common import RESULTS_DIR, SHARED_DATA, ResultsTable, command, commit, machine

CSV = RESULTS_DIR / "issue_cutoff.csv"
COLUMNS = [
    "part",
    "noise",
    "seed",
    "rows",
    "clean_fraction",
    "rule",
    "margin",
    "labels",
    "wrong",
    "flagged",
    "precision",
    "recall",
    "f1",
    "suggestion_right",
    "auroc",
    "commit",
    "date",
    "command",
]


def flag_metrics(wrong: np.ndarray, flags: np.ndarray, fixed: np.ndarray) -> dict:
    """Flagged count, precision, recall and F1 against the known ``wrong`` labels; ``fixed``: where the
    suggestion is the true label, read among the flags that are wrong labels."""
    wrong, flags, fixed = wrong.ravel(), flags.ravel(), fixed.ravel()
    hits = int((flags & wrong).sum())
    precision = hits / flags.sum() if flags.any() else 0.0
    recall = hits / wrong.sum() if wrong.any() else 0.0
    f1 = 2 * precision * recall / (precision + recall) if hits else 0.0
    return {
        "labels": wrong.size,
        "wrong": int(wrong.sum()),
        "flagged": int(flags.sum()),
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "suggestion_right": fixed[flags & wrong].mean() if hits else "",
    }


def features(images, args):
    """Frozen EfficientNet-Lite0 features of ``images`` (paths or pixels), through the feature cache."""
    import torch

    from noisereg.data.labelset import LabelledSet
    from noisereg.features import cached_features
    from noisereg.models.backbones import create_backbone

    net = create_backbone("efficientnet-lite0", image_size=args.image_size).eval()
    n = len(images)
    holder = LabelledSet(
        images=images,
        classes=[str(k) for k in range(10)],
        clean=np.zeros((n, 10), np.float32),
        noisy=np.zeros((n, 10), np.float32),
        has_noisy=np.zeros(n, bool),
        has_clean=np.zeros(n, bool),
    )
    return cached_features(
        net, holder, device=torch.device("cpu"), cache_dir=args.cache_dir, batch_size=128, quiet=False
    )


def labelled(x, clean: np.ndarray, noisy: np.ndarray, fraction: float, seed: int):
    """A CIFAR-N-like training set: a seeded clean share keeps its clean label (and leaves D_n)."""
    from noisereg.data.labelset import LabelledSet, clean_subset
    from noisereg.data.sources.cifar_n import CIFAR10_CLASSES

    is_clean = clean_subset(len(clean), fraction, seed, stream=11)
    return LabelledSet(
        images=x, classes=list(CIFAR10_CLASSES), clean=clean, noisy=noisy, has_noisy=~is_clean, has_clean=is_clean
    )


def rows_of(train, clean: np.ndarray, seed: int, args) -> list[dict]:
    """Train ``proposed``, score its noisy labels once, and flag them by each rule."""
    import torch

    from benchmarks.bench_label_issues import TRAIN
    from noisereg.config import TrainConfig
    from noisereg.data.labelset import validation_rows
    from noisereg.label_issues import score_set
    from noisereg.label_issues.scores import contradicted
    from noisereg.train import fit

    cfg = TrainConfig(method="proposed", epochs=args.epochs, seed=seed, **TRAIN)
    result = fit(train, cfg)  # validation: its own share of the clean set, no noisy labels there
    cpu = torch.device("cpu")
    default = score_set(result.model, train, result.preprocess, device=cpu)
    val = train.subset(np.flatnonzero(validation_rows(train, cfg.val_fraction, cfg.seed)))
    val = dataclasses.replace(val, has_noisy=np.ones(len(val), bool))  # a CIFAR-N manifest keeps both labels
    chosen = score_set(result.model, train, result.preprocess, device=cpu, val=val)
    single = default.single_label
    wrong = clean[default.rows] != (default.given > 0.5)
    wrong = wrong.any(1) if single else wrong
    truth = clean[default.rows]

    def fixed(s):  # (N,) or (N, K): the suggestion is the true label (entry)
        right = s.suggested() == truth
        return right.all(1) if single else right

    from sklearn.metrics import roc_auc_score

    auroc = roc_auc_score(wrong.ravel(), -default.quality.ravel())
    out = []
    for margin in args.margins:
        flags = contradicted(default.probs, default.given, single_label=single, margin=margin)
        s = dataclasses.replace(default, flags=flags)
        out.append({"rule": "contradiction", "margin": margin, **flag_metrics(wrong, flags, fixed(s))})
    old = dataclasses.replace(default, flags=None, cutoff=0.5)
    out.append({"rule": f"{default.score} <= 0.5 (old default)", **flag_metrics(wrong, old.is_issue(), fixed(old))})
    if chosen.rule == "validation":
        out.append(
            {
                "rule": f"validation ({chosen.score} <= {chosen.cutoff:.3f})",
                **flag_metrics(wrong, chosen.is_issue(), fixed(chosen)),
            }
        )
    return [{**r, "auroc": auroc} for r in out]


def single_part(args) -> list[dict]:
    from noisereg.data.labelset import one_hot
    from noisereg.data.sources.cifar_n import load_cifar_n_labels, noisy_labels, train_image_paths

    root = SHARED_DATA / "cifar10"
    table = load_cifar_n_labels(SHARED_DATA / "cifar10n" / "CIFAR-10_human.pt")
    order = np.random.default_rng([args.subset_seed, 7]).permutation(len(table["clean_label"]))[: max(args.rows)]
    paths = train_image_paths(root, table["clean_label"])
    x_all = features([paths[i] for i in order], args)
    rows = []
    for n, noise, seed in ((n, noise, seed) for n in args.rows for noise in args.noises for seed in args.seeds):
        pick = order[:n]
        clean, noisy = one_hot(table["clean_label"][pick], 10), one_hot(noisy_labels(table, noise)[pick], 10)
        part = rows_of(labelled(np.asarray(x_all[:n]), clean, noisy, args.clean, seed), clean > 0.5, seed, args)
        rows += [{"part": "single", "noise": noise, "seed": seed, "rows": n, **r} for r in part]
        show(rows[-len(part) :])
    return rows


def mosaics_part(args) -> list[dict]:
    """2x2 mosaics whose labels are the unions of their tiles' clean / ``worse`` labels."""
    import torch

    from noisereg.data.images import load_image
    from noisereg.data.sources.cifar_n import load_cifar_n_labels, noisy_labels, train_image_paths
    from noisereg.tasks.mosaics import assemble, disjoint_mosaics, union_labels

    table = load_cifar_n_labels(SHARED_DATA / "cifar10n" / "CIFAR-10_human.pt")
    paths = train_image_paths(SHARED_DATA / "cifar10", table["clean_label"])
    tiles = disjoint_mosaics(len(paths), args.mosaics, seed=args.subset_seed)
    pixels = np.stack([np.asarray(load_image(paths[i]), dtype=np.float32) / 255.0 for i in tiles.ravel()])
    mosaic = assemble(pixels.reshape(len(tiles), 4, *pixels.shape[1:]))
    x = features(torch.from_numpy(mosaic).permute(0, 3, 1, 2).contiguous(), args)
    clean = union_labels(table["clean_label"], tiles, 10)
    noisy = union_labels(noisy_labels(table, "worse"), tiles, 10)
    rows = []
    for seed in args.seeds:
        part = rows_of(labelled(x, clean, noisy, args.clean, seed), clean > 0.5, seed, args)
        rows += [{"part": "mosaics", "noise": "worse", "seed": seed, "rows": args.mosaics, **r} for r in part]
        show(rows[-len(part) :])
    return rows


def show(rows: list[dict]) -> None:
    for r in rows:
        print({k: round(v, 3) if isinstance(v, float) else v for k, v in r.items()}, flush=True)


def write(rows: list[dict], args) -> None:
    """Add this run's rows; the CSV's earlier rows of the (part, noise, size, seed) cells it measured are marked
    superseded (kept in the file, never read by the tables)."""
    stamp = {
        "clean_fraction": args.clean,
        "commit": commit(),
        "date": datetime.date.today().isoformat(),
        "command": command(),
    }
    table = ResultsTable(Path(args.csv), tuple(COLUMNS), key=("part", "noise", "rows", "seed"))
    table.append({**r, **stamp, **{k: round(v, 4) for k, v in r.items() if isinstance(v, float)}} for r in rows)


def main() -> None:
    floats = lambda s: [float(v) for v in s.split(",") if v]  # noqa: E731
    ap = argparse.ArgumentParser()
    ap.add_argument("--noises", default="worse,random1,aggre", help="single-label CIFAR-10N label sets ('' = none)")
    ap.add_argument("--rows", default="8000,1000", help="training images of the single-label part (sizes)")
    ap.add_argument("--mosaics", type=int, default=2000, help="training mosaics of the multi-label part (0 = skip)")
    ap.add_argument("--clean", type=float, default=0.05, help="clean fraction")
    ap.add_argument("--seeds", default="0,1,2", help="training seeds (the clean subset and the model)")
    ap.add_argument("--subset-seed", type=int, default=0, help="which images (the same for every training seed)")
    ap.add_argument("--margins", type=floats, default=floats("0,0.02,0.05,0.1,0.2,0.3"))
    ap.add_argument("--epochs", type=float, default=20)
    ap.add_argument("--image-size", type=int, default=160)
    ap.add_argument("--cache-dir", default="runs/cache")
    ap.add_argument("--csv", default=str(CSV))
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    args.noises = [n for n in args.noises.split(",") if n]
    args.seeds = [int(s) for s in args.seeds.split(",")]
    args.rows = [int(n) for n in args.rows.split(",") if n]
    import torch

    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    rows = single_part(args) if args.noises else []
    if args.mosaics:
        rows += mosaics_part(args)
    write(rows, args)
    print(f"issue cut-off: {(time.perf_counter() - start) / 60:.1f} min on {machine()}")


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
