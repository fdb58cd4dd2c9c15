"""The CIFAR-10N benchmark at convergence: real human label noise, validation from the clean budget,
equal-budget tuning for every method, several seeds.

Heads train on EfficientNet-Lite0 ImageNet features (installed offline; 160 px, chosen on
validation, see RESULTS.md) extracted once into the feature cache. Each part appends one row per run
to ``benchmarks/results/cifar10n.csv``; ``python -m benchmarks.make_results`` turns the CSV files
into the tables of RESULTS.md.

- ``worse``: single-label, ``worse`` labels (40.2% noisy), every single-label method and cleanlab's
  CleanLearning around the ``mixed`` head (the clean net's MLP on pooled labels; see ``cleanlab_peer.py``:
  validation for early stopping, clean rows never pruned, its settings tuned with the same trials);
- ``random1`` / ``aggre``: ``proposed``, ``g-alone`` and the three best baselines of ``worse`` at 5% clean
  by validation score (``cleannet`` and ``mw-net``, added later with ``--methods``, are in both parts too;
  the parts ran when the three were chosen by test score: glc, forward-ft, ft-m, where validation picks
  forward-ft, ft-l, cleannet);
- ``mosaics``: multi-label 2x2 mosaics of CIFAR-10 images with the tiles' ``worse`` labels;
- ``annotated``: the paper's regime, single-label: all 50,000 training images labelled by a machine
  (EfficientNet-Lite2 at 160 px, the first of its top-8 ImageNet predictions that the shipped
  ImageNet -> CIFAR-10 map covers; images with none leave D_n); the features stay Lite0's;
- ``annotated-mosaics``: the same annotator on whole 2x2 mosaics (every mapped class among its top-8);
- the mosaic parts use each training image in one mosaic only (12,500 mosaics; test: 2,500 of the test
  images), so clean, noisy, validation and test mosaics never share a tile;
- ``e2e``: the small CNN trained end to end on the 32x32 images (no ImageNet features);
- ``voc``: the paper's protocol on real photos (multi-label): PASCAL VOC 2007 (``shared/data/voc2007``)
  labelled by EfficientNet-Lite2's top-8 through the shipped ``voc`` map, ``person`` (no ImageNet class)
  dropped with the photos it alone labels; train on the ``train`` split (3,218 photos), test on ``val`` +
  ``test`` (1,382); EfficientNet-Lite0 features at 224 px; clean 2/5/10/20%; every multi-label method and
  cleanlab's multi-label issue filter around the ``mixed`` head (``cleanlab_peer.py``).

Every method is tuned once per part (``--trials`` Optuna trials, the same for every method, at 5%
clean and seed 0, on that run's validation set) and the chosen values are reused at every clean
fraction and seed. Runs end by early stopping on validation (at most ``--epochs``); the test split is
only scored at the end. Runs of different (fraction, seed) go to ``--workers`` processes.

    python -m benchmarks.bench_cifar10n --part worse [--seeds 3] [--trials 8] [--workers 2]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import time
from concurrent.futures import ProcessPoolExecutor
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import RESULTS_DIR, SHARED_DATA, ResultsTable, machine
from benchmarks.grid import cell_finished, cell_rows, run_cell
from benchmarks.parts import TRAIN, experiment, fractions, get_part, list_parts, metric_of

COLUMNS = (
    "part",
    "data",
    "noise",
    "scheme",
    "method",
    "clean_fraction",
    "seed",
    "top1",
    "mAP",
    "AP_all",
    "epochs",
    "val_best",
    "hyperparameters",
    "seconds",
    "best_epoch",
    "commit",
)  # epochs: where a run stopped;
# best_epoch: its kept weights (rows before 2026-12-02 lack it); commit: the code that ran it (rows before
# 2026-12-04 lack it; a cell read back from an interrupted run keeps the commit it ran with)
CSV = RESULTS_DIR / "cifar10n.csv"
# a rerun of a cell supersedes its earlier rows (they stay in the file, marked)
RESULTS_TABLE = ResultsTable(CSV, COLUMNS, key=("part", "method", "clean_fraction", "seed"))
RUNS_TABLE = ResultsTable(
    RESULTS_DIR / "cifar10n_runs.csv", ("part", "seeds", "trials", "workers", "seconds", "machine")
)


def run_grid(args: argparse.Namespace, part: str, methods: list[str], tuned: str) -> list[dict]:
    """Every (fraction, seed) cell in parallel; the tuned values of every method. The end-to-end part, whose
    runs are long, has one cell per (fraction, seed, method) so that its methods also run side by side."""
    per_method = [[m] for m in methods] if part == "e2e" else [methods]
    added = "-" + "+".join(methods) if args.methods and part != "e2e" else ""  # never over a finished cell
    cells = [
        experiment(
            args,
            part,
            ms,
            clean_fractions=[f],
            seeds=1,
            first_seed=s,
            tuned=tuned,
            out=f"{args.out}/{part}/f{f:g}-s{s}" + (f"-{ms[0]}" if len(per_method) > 1 else added),
        )
        for f in fractions(args, part)
        for s in range(args.seeds)
        for ms in per_method
    ]
    done = [c for c in cells if cell_finished(c, c.methods)]
    todo = [c for c in cells if c not in done]
    results = [cell_rows(c) for c in done]
    rows = []
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        for cell, result in chain(zip(done, results), zip(todo, pool.map(run_cell, todo))):  # printed as they end
            rows += result
            print(
                f"{part}: clean {cell.clean_fractions[0]:g} seed {cell.first_seed}: "
                + ", ".join(f"{r['method']} {100 * r[metric_of(part)]:.1f}" for r in result),
                flush=True,
            )
    return rows


def _tune_job(item: tuple) -> dict:
    import torch

    torch.set_num_threads(1)
    from noisereg.experiment import TASKS, TrainConfig, tune_grid

    (exp,) = item
    base = TrainConfig.from_dict({**TASKS[exp.data].default_train(exp), **exp.train, "quiet": True})
    return tune_grid(exp, base, TASKS[exp.data].builder(exp, torch.device("cpu")), quiet=True)


def tuned_in_table(table: Path) -> dict[str, dict]:
    """Each method's chosen values from a committed ``tune_<part>.csv`` (its trial with the best validation
    score, ties to the earlier trial, as Optuna chooses), so that a later sitting on a fresh machine adds
    methods to a part without tuning again the ones it already has."""
    from noisereg.methods import get_method_spec

    if not table.exists():
        return {}
    rows = list(csv.DictReader(open(table)))
    out = {}
    for m in dict.fromkeys(r["method"] for r in rows):
        mine = [r for r in rows if r["method"] == m]
        best = max(mine, key=lambda r: (float(r["value"]), -int(r["trial"])))
        out[m] = {
            k: int(float(best[k])) if k == "hidden" else float(best[k])
            for k in get_method_spec(m).tunable
            if best.get(k) not in (None, "")
        }
    return out


def tune(args: argparse.Namespace, part: str, methods: list[str]) -> Path:
    """Each method's equal-budget search at 5% clean, seed 0; one job per method, taken by the next free
    worker. Methods an earlier run of this part already tuned keep their values; a method added later
    (``--methods``) gets the same budget and is merged into ``tuned.json`` and ``tune_<part>.csv``."""
    out = Path(args.out) / part / "tune"
    if args.tuned_from:
        return Path(args.out) / args.tuned_from / "tune" / "tuned.json"
    table = RESULTS_DIR / f"tune_{part}.csv"
    merged: dict[str, Any] = (
        json.loads((out / "tuned.json").read_text()) if (out / "tuned.json").exists() and table.exists() else {}
    )
    merged.update({m: v for m, v in tuned_in_table(table).items() if m not in merged})  # an earlier sitting's
    todo = [m for m in methods if m not in merged]
    if not todo:  # an interrupted run or an earlier sitting (a fresh clone: its table only) tuned them all
        out.mkdir(parents=True, exist_ok=True)
        (out / "tuned.json").write_text(json.dumps(merged, indent=1))
        return out / "tuned.json"
    first = len(list(out.glob("[0-9]*")))  # new trial folders after any earlier ones
    items = [
        (experiment(args, part, [m], tune_trials=args.trials, tune_fraction=0.05, out=f"{out}/{first + i}"),)
        for i, m in enumerate(todo)
    ]
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        for params in pool.map(_tune_job, items):
            merged.update(params)
    out.mkdir(parents=True, exist_ok=True)
    (out / "tuned.json").write_text(json.dumps(merged, indent=1))
    # the table keeps every other method's trials, also when this run's tune folder is new (a fresh clone)
    kept = [r for r in csv.DictReader(open(table)) if r["method"] not in todo] if table.exists() else []
    trials = kept + [row for i in range(len(items)) for row in csv.DictReader(open(out / str(first + i) / "tune.csv"))]
    ResultsTable(table, tuple(dict.fromkeys(k for r in trials for k in r))).write(trials)
    return out / "tuned.json"


def _cleanlab_prepared(args: argparse.Namespace, part: str, head_values: dict, f: float, seed: int) -> tuple:
    """One cell's task, CleanLearning's rows (clean rows flagged) and the ``mixed`` head, in a worker with one
    thread, as every grid run has."""
    import torch

    from benchmarks.cleanlab_peer import SameHead, training_rows
    from noisereg.experiment import TASKS

    torch.set_num_threads(1)
    exp = experiment(args, part, ["mixed"])
    task = TASKS[exp.data].builder(exp, torch.device("cpu"))(f, seed)
    train, val, _ = task.holdout(0.2, seed)
    x, y, clean = training_rows(train)
    val_xy = (np.asarray(val.images, dtype=np.float32), val.clean.argmax(1))
    train_cfg = {k: v for k, v in TRAIN.items() if k != "hidden"}
    head = SameHead(params=head_values, val=val_xy, num_classes=train.num_classes, seed=seed, train=train_cfg)
    return exp, task, x, y, clean, val_xy, head


def _cleanlab_multi_prepared(args: argparse.Namespace, part: str, head_values: dict, f: float, seed: int) -> tuple:
    """The multi-label counterpart: the task, the rows (multi-hot, clean rows flagged), the validation set and
    the ``mixed`` head on multi-hot labels, in a worker with one thread."""
    import torch

    from benchmarks.cleanlab_peer import MultiHead, multilabel_rows
    from noisereg.experiment import TASKS

    torch.set_num_threads(1)
    exp = experiment(args, part, ["mixed"])
    task = TASKS[exp.data].builder(exp, torch.device("cpu"))(f, seed)
    train, val, _ = task.holdout(0.2, seed)
    x, y, clean = multilabel_rows(train)
    head = MultiHead(
        params=head_values, val=val, seed=seed, train={k: v for k, v in get_part(part).train.items() if k != "hidden"}
    )
    return exp, task, x, y, clean, val, head


def _cleanlab_tune_job(item: tuple) -> tuple[dict, list[dict]]:
    """cleanlab's own settings, ``--trials`` trials on validation at 5% clean, seed 0."""
    from benchmarks.cleanlab_peer import tune_multilabel_settings, tune_settings

    args, part, head_values = item
    if get_part(part).multi_label:
        _, _, x, y, clean, val, head = _cleanlab_multi_prepared(args, part, head_values, 0.05, 0)
        return tune_multilabel_settings(head, x, y, clean, val, args.trials)
    _, _, x, y, clean, val_xy, head = _cleanlab_prepared(args, part, head_values, 0.05, 0)
    return tune_settings(head, x, y, clean, val_xy, args.trials)


def _cleanlab_multi_job(item: tuple) -> dict:
    """One (fraction, seed) row of cleanlab's multi-label filter around the ``mixed`` head, scored once on test."""
    from benchmarks.cleanlab_peer import multilabel_clean_learning, multilabel_cv_probabilities
    from noisereg.metrics import evaluate_scores
    from noisereg.report import source_commit

    args, part, head_values, settings, f, seed = item
    start = time.perf_counter()
    exp, task, x, y, clean, _, head = _cleanlab_multi_prepared(args, part, head_values, f, seed)
    fitted, pruned = multilabel_clean_learning(
        head, x, y, clean, multilabel_cv_probabilities(head, x, y, seed), settings
    )
    test = np.hstack([np.asarray(task.test.images, np.float32), np.zeros((len(task.test), 1), np.float32)])
    scores = evaluate_scores(fitted.predict_proba(test), np.asarray(task.test.clean))
    values = {**head_values, **settings, "pruned": round(pruned, 4)}
    print(
        f"{part}: cleanlab-cl clean {f:g} seed {seed}: mAP {100 * scores['mAP']:.1f} ({pruned:.1%} pruned)", flush=True
    )
    last = fitted.result_.history[-1] if fitted.result_.history else {}
    return {
        "dataset": exp.data,
        "noise": exp.noise,
        "method": "cleanlab-cl",
        "clean_fraction": f,
        "seed": seed,
        **{k: round(float(scores[k]), 5) for k in ("top1", "mAP", "AP_all")},
        "epochs": round(float(last.get("epoch", 0)), 2),
        "val_best": "",
        "hyperparameters": ";".join(f"{k}={v}" for k, v in values.items()),
        "seconds": round(time.perf_counter() - start, 2),
        "commit": source_commit(),
    }


def _cleanlab_job(item: tuple) -> dict:
    """One (fraction, seed) row of CleanLearning, scored once on the test split (multi-label parts: cleanlab's
    multi-label filter, ``_cleanlab_multi_job``)."""
    if get_part(item[1]).multi_label:
        return _cleanlab_multi_job(item)
    from benchmarks.cleanlab_peer import clean_learning, cv_probabilities
    from noisereg.report import source_commit

    args, part, head_values, settings, f, seed = item
    start = time.perf_counter()
    exp, task, x, y, clean, _, head = _cleanlab_prepared(args, part, head_values, f, seed)
    cl, pruned = clean_learning(head, x, y, clean, cv_probabilities(head, x, y, seed), settings, seed)
    test = np.asarray(task.test.images, dtype=np.float32)
    top1 = float(
        (cl.predict(np.hstack([test, np.zeros((len(test), 1), np.float32)])) == task.test.clean.argmax(1)).mean()
    )
    values = {**head_values, **settings, "pruned": round(pruned, 4)}
    print(f"{part}: cleanlab-cl clean {f:g} seed {seed}: {100 * top1:.1f} ({pruned:.1%} pruned)", flush=True)
    return {
        "dataset": "cifar10n",
        "noise": exp.noise,
        "method": "cleanlab-cl",
        "clean_fraction": f,
        "seed": seed,
        "top1": round(top1, 5),
        "mAP": "",
        "AP_all": "",
        "epochs": round(float(cl.clf.head_.history_[-1].get("epoch", 0)), 2),
        "val_best": "",
        "hyperparameters": ";".join(f"{k}={v}" for k, v in values.items()),
        "seconds": round(time.perf_counter() - start, 2),
        "commit": source_commit(),
    }


def cleanlab_settings_in_table(table: Path) -> dict[str, Any]:
    """cleanlab's chosen settings from a committed ``tune_<part>_cleanlab.csv``: the trial with the best
    validation score, ties to the earlier trial, as Optuna chooses."""
    rows = list(csv.DictReader(open(table)))
    best = max(rows, key=lambda r: (float(r["value"]), -int(r["trial"])))
    return {
        k: (float(v) if k == "frac_noise" else v)
        for k, v in best.items()
        if k not in ("method", "trial", "value", "pruned", "state")
    }


def cleanlab_rows(args: argparse.Namespace, part: str, tuned: dict) -> list[dict]:
    """cleanlab's CleanLearning around the ``mixed`` head (its tuned values, early stopping on the
    validation images every method has), 5-fold, the clean rows never pruned, its own settings tuned
    with ``--trials`` trials on validation at 5% clean, seed 0 (see ``cleanlab_peer``). Tuned and run as the
    grid is: one thread per process, ``--workers`` processes side by side."""
    head_values = tuned.get("mixed", {})
    settings_file = Path(args.out) / part / "tune" / "cleanlab.json"
    table = RESULTS_DIR / f"tune_{part}_cleanlab.csv"
    if settings_file.exists():
        settings = json.loads(settings_file.read_text())
    elif table.exists():  # an earlier sitting's search (a fresh clone): its best trial, ties to the earlier
        settings = cleanlab_settings_in_table(table)
    else:
        with ProcessPoolExecutor(max_workers=1) as pool:
            settings, trials = pool.submit(_cleanlab_tune_job, (args, part, head_values)).result()
        settings_file.parent.mkdir(parents=True, exist_ok=True)
        settings_file.write_text(json.dumps(settings, indent=1))
        ResultsTable(table, tuple(trials[0])).write(trials)
    chosen = (
        args.cleanlab_fractions
        if args.cleanlab_fractions is not None
        else ",".join(map(str, fractions(args, part)))
        if get_part(part).cleanlab_everywhere
        else "0.05"
    )
    items = [
        (args, part, head_values, settings, float(f), seed)
        for f in chosen.split(",")
        if f
        for seed in range(args.seeds)
    ]
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        return list(pool.map(_cleanlab_job, items))


def per_class_ap(args: argparse.Namespace, part: str) -> Path:
    """Every finished cell's test AP per class and method (from the ``evaluation/*.json`` its report keeps), one
    row per (method, clean fraction, seed, class), into ``results/per_class_<part>.csv``."""
    rows = []
    for cell in sorted(Path(args.out, part).glob("f*-s*")):
        f, s = cell.name[1:].split("-s")
        for path in sorted((cell / "evaluation").glob("*.json")):
            ev = json.loads(path.read_text())
            rows += [
                {
                    "part": part,
                    "method": m,
                    "clean_fraction": float(f),
                    "seed": int(s.split("-")[0]),
                    "class": c,
                    "positives": n,
                    "ap": "" if a is None else a,
                }
                for m, aps in ev["per_class_ap"].items()
                for c, n, a in zip(ev["classes"], ev["positives"], aps)
            ]
    out = RESULTS_DIR / f"per_class_{part}.csv"
    ResultsTable(out, ("part", "method", "clean_fraction", "seed", "class", "positives", "ap")).write(rows)
    return out


def measure_noise(args: argparse.Namespace, part: str) -> dict:
    """The part's training labels against the truth, written to ``results/noise_<part>.json``: the rates
    (image / missing / spurious; one flip rate for single-label), the images the annotator left without a
    label, and per class the share of its images whose noisy labels contain it (agreement), the share
    of the noisy labels naming it that are right (precision) and, single-label, its most common wrong label."""
    import torch

    from noisereg.data.noise import noise_rates
    from noisereg.experiment import TASKS

    exp = experiment(args, part, ["proposed"])
    train = TASKS[exp.data].builder(exp, torch.device("cpu"))(0.05, 0).train
    clean, noisy = train.clean > 0.5, train.noisy > 0.5
    given = noisy.any(1)
    per_class = {}
    for k, name in enumerate(train.classes):
        wrong = (
            noisy[clean[:, k] & given & ~noisy[:, k]].sum(0)
            if get_part(part).multi_label
            else np.bincount(noisy[clean[:, k] & given].argmax(1), minlength=len(train.classes))
            * (np.arange(len(train.classes)) != k)
        )
        per_class[name] = {
            "images": int(clean[:, k].sum()),
            "agreement": round(float(noisy[clean[:, k], k].mean()), 4),
            "precision": round(float(clean[noisy[:, k], k].mean()), 4) if noisy[:, k].any() else None,
            "most_confused_with": train.classes[int(np.argmax(wrong))] if wrong.any() else None,
        }
    record = {
        "part": part,
        "images": int(len(clean)),
        "without_label": int((~given).sum()),
        "rates": {k: round(v, 4) for k, v in noise_rates(train.noisy[given], train.clean[given]).items()},
        "labels_per_image": {
            "clean": round(float(clean.sum(1).mean()), 3),
            "noisy": round(float(noisy[given].sum(1).mean()), 3),
        },
        "per_class": per_class,
    }
    (RESULTS_DIR / f"noise_{part}.json").write_text(json.dumps(record, indent=1))
    return record


def append(part: str, scheme: str, rows: list[dict], table: ResultsTable = RESULTS_TABLE) -> None:
    """Add ``rows`` to the results CSV as one run (earlier rows of the same cells are marked superseded)."""
    table.append({**r, "part": part, "data": r.get("dataset"), "scheme": scheme} for r in rows)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--part", required=True, choices=list_parts())
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--trials", type=int, default=8)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument(
        "--image-size",
        type=int,
        default=0,
        help="input side of the feature backbone (default: 160 on the CIFAR parts, 224 on voc)",
    )
    ap.add_argument(
        "--mosaics",
        type=int,
        default=12500,
        help="training mosaics (at most 12,500: each training image is a tile of one mosaic)",
    )
    ap.add_argument("--e2e-epochs", type=float, default=15)
    ap.add_argument(
        "--loader-workers",
        type=int,
        default=0,
        help="DataLoader workers per run of the end-to-end part (images decoded from disk)",
    )
    ap.add_argument("--cache-dir", default="runs/cache")
    ap.add_argument("--methods", help="only these methods (e.g. to add a new method to a part already run)")
    ap.add_argument("--fractions", help="only these clean fractions (a smoke test)")
    ap.add_argument("--tuned-from", help="reuse the values another part tuned (e.g. worse) instead of tuning")
    ap.add_argument(
        "--cleanlab-fractions",
        default=None,
        help="clean fractions of the cleanlab rows (a 5-fold CleanLearning costs six trainings; '' for "
        "none; default 0.05, every fraction of the part on voc, whose heads train in seconds)",
    )
    ap.add_argument(
        "--cleanlab-only",
        action="store_true",
        help="only the cleanlab rows (e.g. at fractions a finished part did not give them)",
    )
    ap.add_argument("--out", default="runs/bench-cifar10n")
    args = ap.parse_args()
    spec = get_part(args.part)
    needs = spec.shared_data
    if not (SHARED_DATA / needs).is_dir():
        raise SystemExit(f"../shared/data/{needs} is absent")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    start, part = time.perf_counter(), args.part
    methods = args.methods.split(",") if args.methods else spec.methods()
    if spec.annotated:
        measure_noise(args, part)
    # the end-to-end CNN is not tuned (a trial costs an hour here): every method runs the same defaults
    # --cleanlab-only tunes nothing but the head cleanlab wraps (when this part has not tuned it yet)
    tuned = None if spec.scheme == "end-to-end" else tune(args, part, ["mixed"] if args.cleanlab_only else methods)
    rows = [] if args.cleanlab_only else run_grid(args, part, methods, str(tuned) if tuned else None)
    if tuned and spec.cleanlab and (args.cleanlab_only or not args.methods):
        rows += cleanlab_rows(args, part, json.loads(tuned.read_text()))
    append(part, spec.scheme, rows)
    if spec.per_class_ap:  # the per-class AP the issue reports beside the measured noise per class
        per_class_ap(args, part)
    seconds = time.perf_counter() - start
    what = "; cleanlab rows only" if args.cleanlab_only else f"; methods {' '.join(methods)}" if args.methods else ""
    RUNS_TABLE.append(
        [
            {
                "part": part,
                "seeds": args.seeds,
                "trials": args.trials,
                "workers": args.workers,
                "seconds": f"{seconds:.0f}",
                "machine": machine() + what,
            }
        ]
    )
    print(f"{part}: {len(rows)} runs in {seconds / 60:.1f} min")


if __name__ == "__main__":
    main()
