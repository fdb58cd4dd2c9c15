"""Finding the wrong labels of CIFAR-10N, where the truth is known: noisereg's label-issue finder against
cleanlab, CleanNet and Meta-Weight-Net, side by side in one run, on the same features and training rows.

- single-label, ``worse`` / ``random1`` / ``aggre`` human labels, at ``--clean`` (5%) clean: ``proposed``
  trained once and its noisy labels scored (posterior, g and residual scores); CleanNet's verification
  score and Meta-Weight-Net's learned weight (each also by its classifier's g); cleanlab's
  ``find_label_issues`` on 5-fold out-of-sample pred_probs of the same head (the clean net's MLP trained on
  every given label, ``mixed``, with the clean rows as clean rows, each fold stopping early on the same
  validation images) and of logistic regression;
- multi-label 2x2 mosaics (``worse`` labels of the tiles): ``proposed`` and ``mw-net`` per (image, class)
  entry against cleanlab's multi-label ``find_label_issues`` (per image) and its per-class issues and
  scores (per entry), on 5-fold pred_probs of the same head and of one-vs-rest logistic regression;
- retraining ``proposed`` on the corrected labels (``replace`` and ``drop``) vs on the given ones.

A method with several scores is represented by the one that ranks the validation images' known wrong
labels best (``chosen_on = validation``; the others are kept as ``alternative`` rows), never by the
training labels' truth; a method with one score is ``fixed``. ``head`` names the classifier behind each
row. Metrics on the noisy training labels: AUROC, average precision, precision and recall at k = the true
number of wrong labels (equal by construction), the flagged set's precision and recall (cleanlab's
``is_label_issue``; ours at the cut-off chosen on the validation images, whose CIFAR-N labels are known),
and the time: wall seconds and this process's CPU seconds (the machine is shared; CPU time does not
count other processes' load). Appends rows to ``benchmarks/results/label_issues.csv``.

    python -m benchmarks.bench_label_issues [--noises worse,random1,aggre] [--mosaics 12500] [--epochs 20]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import RESULTS_DIR, SHARED_DATA, ResultsTable, machine, write_block
from benchmarks.make_results import LABEL_ISSUE_COLUMNS

COLUMNS = [
    "part",
    "noise",
    "clean_fraction",
    "seed",
    "peer",
    "score",
    "level",
    "auroc",
    "ap",
    "precision_at_k",
    "recall_at_k",
    "k",
    "labels",
    "flagged",
    "flagged_precision",
    "flagged_recall",
    "seconds",
    "cpu_seconds",
    "test_top1",
    "test_mAP",
    "mosaics",
    "epochs",
    "head",
    "chosen_on",
    "val_auroc",
]
CSV = RESULTS_DIR / "label_issues.csv"
KEY = ("part", "noise", "clean_fraction", "seed")  # one run of a label set: a later one supersedes it
TRAIN = {
    "scheme": "frozen",
    "backbone_steps": 0,
    "hidden": 256,
    "lr": 1e-3,
    "weight_decay": 0.0,
    "alpha": 0.2,
    "clean_ratio": 0.1,
    "batch_size": 128,
    "patience": 4,
    "quiet": True,
}  # pinned: not the methods' defaults
MLP = f"mlp-{TRAIN['hidden']}-sigmoid"  # the heads every noisereg row and cleanlab's "same head" train


@contextmanager
def clock() -> Iterator[dict]:
    """Wall and CPU seconds of the block (CPU: every thread of this process, not other processes)."""
    t: dict = {}
    wall, cpu = time.perf_counter(), time.process_time()
    yield t
    t["seconds"], t["cpu_seconds"] = time.perf_counter() - wall, time.process_time() - cpu


def metrics(wrong: np.ndarray, quality: np.ndarray, flagged: np.ndarray) -> dict[str, Any]:
    """Ranking (low quality = suspect) and flagged-set scores against the known ``wrong`` labels."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    wrong, quality, flagged = wrong.ravel(), quality.ravel(), flagged.ravel()
    k = int(wrong.sum())
    top = np.argsort(quality, kind="stable")[:k]
    return {
        "auroc": roc_auc_score(wrong, -quality),
        "ap": average_precision_score(wrong, -quality),
        "precision_at_k": wrong[top].mean(),
        "recall_at_k": wrong[top].sum() / k,
        "k": k,
        "labels": len(wrong),
        "flagged": int(flagged.sum()),
        "flagged_precision": wrong[flagged].mean() if flagged.any() else 0.0,
        "flagged_recall": flagged[wrong].mean(),
    }


def cfg(method: str, args: argparse.Namespace, **extra: Any):
    from noisereg.config import TrainConfig

    return TrainConfig(method=method, epochs=args.epochs, seed=args.seed, **{**TRAIN, **extra})


def ours(method: str, train, val, task, args, scores=("auto",)) -> tuple[list[dict], Any, Any, dict]:
    """Train ``method`` once and rank the noisy labels by each score: rows, the scores, the fit, its time."""
    import torch

    from noisereg.label_issues import score_set
    from noisereg.train import evaluate, fit

    with clock() as t:
        result = fit(train, cfg(method, args), eval_set=val)
        ranked = {
            s: score_set(
                result.model, train, result.preprocess, device=torch.device("cpu"), score=s, val=paired(val, task)
            )
            for s in scores
        }
    test = evaluate(result.model, task.test, result.preprocess, device=torch.device("cpu"))
    rows = []
    chosen = chosen_score(ranked)
    for s, r in ranked.items():
        wrong = truth(task, r)
        levels = [("entry", r.quality, r.is_issue())] if not r.single_label else []
        levels += [("image", r.image_quality(), r.is_issue() if r.single_label else r.is_issue().any(1))]
        for level, q, flags in levels:
            w = wrong if level == "entry" or r.single_label else wrong.any(1)
            rows.append(
                {
                    "peer": f"noisereg {method}",
                    "score": r.score,
                    "level": level,
                    **metrics(w, q, flags),
                    "test_top1": test["top1"],
                    "test_mAP": test["mAP"],
                    "head": MLP,
                    "val_auroc": r.val_auroc,
                    "chosen_on": "fixed" if len(ranked) == 1 else "validation" if s == chosen else "alternative",
                    "epochs": result.history[-1].get("epoch"),
                    **t,
                }
            )
    return rows, ranked, result, test


def chosen_score(ranked: dict) -> str:
    """The score whose ranking of the validation images' known wrong labels is best (``val_auroc``); the
    first one when none could be checked there."""
    checked = {s: r.val_auroc for s, r in ranked.items() if r.val_auroc is not None}
    return max(checked, key=checked.get) if checked else next(iter(ranked))


def paired(val, task):
    """The validation images with their CIFAR-N noisy labels too (a CIFAR-N manifest keeps both)."""
    return dataclasses.replace(val, has_noisy=np.ones(len(val), bool)) if val is not None else None


def truth(task, scores) -> np.ndarray:
    """Which scored labels are wrong: (N,) single-label, (N, K) entries multi-label."""
    wrong = task.train.clean[scores.rows] != scores.given
    return wrong.any(1) if scores.single_label else wrong


def cv_probs(x: np.ndarray, y: np.ndarray, make, folds: int, seed: int) -> np.ndarray:
    """Out-of-sample (N, K) probabilities from ``folds``-fold cross-validation (sklearn's
    ``cross_val_predict``; stratified for single-label ``y``, plain K-fold for (N, K) multi-hot ``y``)."""
    from sklearn.model_selection import KFold, StratifiedKFold, cross_val_predict

    split = StratifiedKFold if y.ndim == 1 else KFold
    return cross_val_predict(make(), x, y, cv=split(folds, shuffle=True, random_state=seed), method="predict_proba")


def head_settings(args: argparse.Namespace) -> dict:
    """The training settings of cleanlab's "same head": ours, at most ``--epochs``, early stopping on validation."""
    return {
        **{k: TRAIN[k] for k in ("batch_size", "patience", "lr", "weight_decay", "clean_ratio")},
        "epochs": args.epochs,
    }


def cleanlab_single(train, val, task, args) -> list[dict]:
    """cleanlab's ``find_label_issues`` and label quality on 5-fold pred_probs of the same head (``mixed``,
    validated, clean rows flagged: ``cleanlab_peer.SameHead``) and of logistic regression, on the same rows
    (clean images with their clean label; only noisy labels are scored)."""
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from benchmarks.cleanlab_peer import SameHead, training_rows

    use = np.flatnonzero(train.has_clean | train.has_noisy)
    x, y, _ = training_rows(train)
    noisy = train.has_noisy[use]
    wrong = (train.noisy.argmax(1) != task.train.clean.argmax(1))[use][noisy]
    val_xy = (np.asarray(val.images, dtype=np.float32), val.clean.argmax(1))
    heads = {
        "cleanlab + same head (5-fold)": (
            f"{MLP} (mixed)",
            lambda: SameHead(
                params={"hidden": TRAIN["hidden"]},
                val=val_xy,
                num_classes=train.num_classes,
                seed=args.seed,
                train=head_settings(args),
            ),
            x,
        ),
        "cleanlab + logistic regression (5-fold)": (
            "linear (logistic regression)",
            lambda: make_pipeline(StandardScaler(), LogisticRegression(max_iter=300)),
            x[:, :-1],
        ),
    }
    rows = []
    for peer, (head, make, features) in heads.items():
        with clock() as t:
            probs = cv_probs(features, y, make, 5, args.seed)
            flagged = find_label_issues(y, probs)
            quality = get_label_quality_scores(y, probs)
        rows.append(
            {
                "peer": peer,
                "score": "self_confidence",
                "level": "image",
                "head": head,
                "chosen_on": "fixed",
                **metrics(wrong, quality[noisy], flagged[noisy]),
                **t,
            }
        )
        print_row(rows[-1])
    return rows


def retrain(train, val, task, ranked, args) -> list[dict]:
    """``proposed`` retrained on the labels corrected by its own flags (replace / drop), ranked by the score
    chosen on validation: test scores."""
    import torch

    from noisereg.label_issues import corrected_set
    from noisereg.train import evaluate, fit

    rows = []
    for action in ("replace", "drop"):
        with clock() as t:
            result = fit(corrected_set(train, ranked, action=action), cfg("proposed", args), eval_set=val)
        test = evaluate(result.model, task.test, result.preprocess, device=torch.device("cpu"))
        rows.append(
            {
                "peer": f"noisereg proposed retrained ({action})",
                "score": ranked.score,
                "level": "",
                "chosen_on": "validation",
                "test_top1": test["top1"],
                "test_mAP": test["mAP"],
                "epochs": result.history[-1].get("epoch"),
                **t,
            }
        )
        print_row(rows[-1])
    return rows


def build(args, noise: str, multi: bool):
    import torch

    from noisereg.tasks.cifar10n import cifar10n_builder

    make = cifar10n_builder(
        None,
        None,
        noise=noise,
        multi_label=multi,
        backbone="efficientnet-lite0",
        image_size=160,
        mosaics=args.mosaics,
        cache_dir=args.cache_dir,
        device=torch.device("cpu"),
    )
    task = make(args.clean, args.seed)
    if args.rows:  # a smoke test on the first rows
        task = dataclasses.replace(task, train=task.train.subset(np.arange(min(args.rows, len(task.train)))))
    train, val, _ = task.holdout(0.2, args.seed)
    return task, train, val


def single_part(args, noise: str) -> list[dict]:
    task, train, val = build(args, noise, False)
    rows, ranked, _, _ = ours("proposed", train, val, task, args, scores=("posterior", "g", "residual"))
    for method in ("cleannet", "mw-net"):
        rows += ours(method, train, val, task, args, scores=("method", "g"))[0]
    for r in rows:
        print_row(r)
    rows += cleanlab_single(train, val, task, args)
    rows += retrain(train, val, task, ranked[chosen_score(ranked)], args)
    return [{"part": "single", "noise": noise, **r} for r in rows]


def mosaics_part(args) -> list[dict]:
    """Multi-label: our entries and images vs cleanlab's multi-label issues on the same mosaics (its image
    flags per image, its per-class flags and scores per entry)."""
    from cleanlab.multilabel_classification.filter import find_label_issues, find_multilabel_issues_per_class
    from cleanlab.multilabel_classification.rank import get_label_quality_scores, get_label_quality_scores_per_class
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from benchmarks.cleanlab_peer import MultiHead

    task, train, val = build(args, "worse", True)
    rows, _, _, _ = ours("proposed", train, val, task, args, scores=("posterior", "g", "residual"))
    rows += ours("mw-net", train, val, task, args, scores=("method", "g"))[0]
    for r in rows:
        print_row(r)
    use = np.flatnonzero(train.has_clean | train.has_noisy)
    x = np.asarray(train.images[use], dtype=np.float32)
    clean = train.has_clean[use]
    y = np.where(train.has_clean[:, None], train.clean, train.noisy)[use].astype(int)
    noisy = train.has_noisy[use]
    wrong = (train.noisy != task.train.clean)[use][noisy]
    flagged_x = np.hstack([x, clean[:, None].astype(np.float32)])
    heads = {
        "cleanlab + same head (5-fold)": (
            f"{MLP} (mixed)",
            lambda: MultiHead(val=val, seed=args.seed, train={**TRAIN, "epochs": args.epochs}),
            flagged_x,
        ),
        "cleanlab + logistic regression (5-fold)": (
            "linear (logistic regression)",
            lambda: OneVsRestClassifier(make_pipeline(StandardScaler(), LogisticRegression(max_iter=300))),
            x,
        ),
    }
    for peer, (head, make, features) in heads.items():
        with clock() as t:
            probs = cv_probs(features, y, make, 5, args.seed)
            labels = [np.flatnonzero(r).tolist() for r in y]
            flagged = find_label_issues(labels, probs)
            quality = get_label_quality_scores(labels, probs)
            per_class = get_label_quality_scores_per_class(labels, probs)
            entry_flags = np.asarray(find_multilabel_issues_per_class(labels, probs), bool)
        for level, w, q, f in (
            ("image", wrong.any(1), quality[noisy], flagged[noisy]),
            ("entry", wrong, per_class[noisy], entry_flags[noisy]),
        ):
            rows.append(
                {
                    "peer": peer,
                    "score": "self_confidence",
                    "level": level,
                    "head": head,
                    "chosen_on": "fixed",
                    **metrics(w, q, f),
                    **t,
                }
            )
            print_row(rows[-1])
    return [{"part": "mosaics", "noise": "worse", "mosaics": args.mosaics, **r} for r in rows]


def print_row(r: dict) -> None:
    shown = {
        k: (round(v, 4) if isinstance(v, float) else v)
        for k, v in r.items()
        if k
        in (
            "peer",
            "score",
            "level",
            "auroc",
            "ap",
            "precision_at_k",
            "flagged_precision",
            "flagged_recall",
            "seconds",
            "cpu_seconds",
            "test_top1",
            "test_mAP",
        )
    }
    print(shown, flush=True)


def append(rows: list[dict], args) -> None:
    """Add the rows of one (part, noise) set to ``args.csv`` as one run: the set's earlier rows at the same
    clean fraction and seed are marked superseded (kept in the file, never read by a table)."""
    ResultsTable(Path(args.csv), tuple(COLUMNS), key=KEY).append(
        {
            **r,
            "clean_fraction": args.clean,
            "seed": args.seed,
            **{k: round(v, 5) for k, v in r.items() if isinstance(v, float)},
        }
        for r in rows
    )


def markdown(frame) -> str:
    """A pipe table (floats to 3 decimals, blanks for missing values; no ``tabulate`` dependency)."""
    cell = lambda v: "" if v is None or v != v or v == "" else f"{v:.3f}" if isinstance(v, float) else str(v)  # noqa: E731
    lines = ["| " + " | ".join(frame.columns) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines)


def report(rows: list[dict], args, seconds: float) -> None:
    """Print the run's rows as a table, and write each label set's block for RESULTS.md (its command, machine,
    settings and target: AUROC at or above cleanlab's best at 5x less time, as measured); the table there is
    rendered from the CSV's current rows by ``make_results``."""
    import pandas as pd

    frame = pd.DataFrame(rows)
    frame = frame[frame["level"] != ""] if "level" in frame else frame
    table = markdown(pd.DataFrame(rows)[[c for c in LABEL_ISSUE_COLUMNS if c in frame.columns]])
    print(table)
    common = [
        f"{args.clean:.0%} clean, seed {args.seed}, at most {args.epochs:g} epochs, {args.mosaics} training "
        f"mosaics; wall time of the whole run {seconds / 60:.1f} min. `seconds` (wall) and `cpu_seconds` (this "
        "process only, so other jobs on the machine do not count): training + scoring (ours), 5-fold "
        "cross-validation + cleanlab (cleanlab); every training on the same threads. The time target compares "
        "CPU seconds."
    ]
    for (part, noise), g in frame.groupby(["part", "noise"], sort=False):
        level = g[g["level"] == ("image" if part == "single" else "entry")]
        ours_ = level[(level["peer"] == "noisereg proposed") & (level["chosen_on"] != "alternative")].iloc[0]
        peer = level[level["peer"].str.startswith("cleanlab")].sort_values("auroc").iloc[-1]  # its better head
        ok = ours_["auroc"] >= peer["auroc"] and ours_["cpu_seconds"] * 5 <= peer["cpu_seconds"]
        target = (
            f"- {part} {noise}: proposed ({ours_['score']}, chosen on validation) AUROC {ours_['auroc']:.3f} in "
            f"{ours_['cpu_seconds']:.0f} CPU s vs {peer['peer']} {peer['auroc']:.3f} in "
            f"{peer['cpu_seconds']:.0f} CPU s ({peer['cpu_seconds'] / ours_['cpu_seconds']:.1f}x the time): "
            f"target {'met' if ok else 'missed'}"
        )
        write_block(f"label-issues/{part}-{noise}", "", "\n".join(common + [target]), wall_s=seconds)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--noises", default="worse,random1,aggre", help="single-label CIFAR-10N label sets")
    ap.add_argument(
        "--mosaics",
        type=int,
        default=12500,
        help="training mosaics of the multi-label part (0 = skip; at "
        "most 12,500: each training image is a tile of one mosaic)",
    )
    ap.add_argument("--clean", type=float, default=0.05, help="clean fraction")
    ap.add_argument("--epochs", type=float, default=20, help="most epochs of every training (early stopping)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cache-dir", default="runs/cache")
    ap.add_argument("--csv", default=str(CSV), help="results file the rows are appended to")
    ap.add_argument("--rows", type=int, default=0, help="only the first training rows (a smoke test; 0 = all)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1: the machine is shared)")
    args = ap.parse_args()
    if not (SHARED_DATA / "cifar10n").is_dir():
        raise SystemExit("../shared/data/cifar10n is absent")
    import torch

    torch.set_num_threads(args.threads)
    start, done = time.perf_counter(), []
    for noise in [n for n in args.noises.split(",") if n]:
        done += single_part(args, noise)
        append([r for r in done if r["noise"] == noise and r["part"] == "single"], args)
    if args.mosaics:
        done += mosaics_part(args)
        append([r for r in done if r["part"] == "mosaics"], args)
    report(done, args, time.perf_counter() - start)
    ResultsTable(
        Path(args.csv).parent / "label_issues_runs.csv", ("noises", "mosaics", "clean", "seed", "seconds", "machine")
    ).append(
        [
            {
                "noises": args.noises,
                "mosaics": args.mosaics,
                "clean": args.clean,
                "seed": args.seed,
                "seconds": f"{time.perf_counter() - start:.0f}",
                "machine": machine(),
            }
        ]
    )
    print(f"label issues: {(time.perf_counter() - start) / 60:.1f} min")


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
