"""Does a training knob help? Each knob measured once against the setting it changes, on the benchmark part
where it should matter, with everything else as that part ran it (its tuned values, validation, early stopping,
3 seeds, 1/2/5/10/20% clean; the test split scored once at the end).

- ``--pos-weight auto`` (multi-label BCE, rare classes weigh more) on ``annotated-mosaics``, where the
  annotator names 8 of the 10 classes on under 13% of the mosaics that hold them;
- ``--sampler balanced`` (single-label, every class fills the batches equally) on ``annotated``, where the
  annotator over-names ``dog`` (precision 32%);
- ``--optimizer adamw`` (the tuned weight decay, decoupled instead of L2) and ``--grad-clip 1`` on ``annotated``.

The default side is the part's own grid rows in ``results/cifar10n.csv`` (the same code path with the same
tuned values and seeds; rerunning two of those cells here reproduced them to the last digit: 57.71 and 61.21
mAP), or is rerun with ``--rerun-default``. ``pos_weight`` and ``sampler`` run at every clean fraction,
``adamw`` and ``grad_clip`` at 5%; rows go to ``results/knobs.csv`` and a block to RESULTS.md.

    python -m benchmarks.bench_knobs [--knobs pos_weight,sampler,adamw,grad_clip] [--methods proposed]
        [--rerun-default]
"""

from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ProcessPoolExecutor
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.bench_cifar10n import tuned_in_table
from benchmarks.common import RESULTS_DIR, ResultsTable, current_rows, write_block
from benchmarks.grid import cell_finished, cell_rows, run_cell
from benchmarks.parts import FRACTIONS, TRAIN, experiment, metric_of

KNOBS = {  # knob -> (part, the default's settings, the knob's settings, clean fractions)
    "pos_weight": ("annotated-mosaics", {"pos_weight": "none"}, {"pos_weight": "auto"}, FRACTIONS),
    "sampler": ("annotated", {"sampler": "uniform"}, {"sampler": "balanced"}, FRACTIONS),
    "adamw": ("annotated", {"optimizer": "adam"}, {"optimizer": "adamw"}, [0.05]),  # the tuned weight decay, decoupled
    "grad_clip": ("annotated", {"grad_clip": 0.0}, {"grad_clip": 1.0}, [0.05]),
}
CSV = RESULTS_DIR / "knobs.csv"
COLUMNS = ["knob", "part", "variant", "method", "clean_fraction", "seed", "score", "val_best", "epochs", "seconds"]


def cells(args: argparse.Namespace, knob: str, tuned: Path) -> list[Any]:
    """One experiment per (variant, fraction, seed), each over ``args.methods``, on the part as its grid ran it
    (``parts.experiment``: its data, labels and features; 12,500 mosaics on a mosaic part)."""
    part, default, changed, clean_fractions = KNOBS[knob]
    variants = [("default", default)] if args.rerun_default else []
    grid = argparse.Namespace(
        fractions=None, seeds=1, image_size=0, mosaics=12500, cache_dir=args.cache_dir, out=args.out
    )
    return [
        experiment(
            grid,
            part,
            args.methods,
            clean_fractions=[f],
            first_seed=s,
            train={**TRAIN, **settings},
            tuned=str(tuned),
            out=f"{args.out}/{knob}/{variant}/f{f:g}-s{s}",
        )
        for variant, settings in variants + [(knob, changed)]
        for f in clean_fractions
        for s in range(args.seeds)
    ]


def grid_rows(knob: str, methods: list[str], seeds: int) -> list[dict]:
    """The default side from the part's grid (``results/cifar10n.csv``; the last row of each cell)."""
    part, _, _, clean_fractions = KNOBS[knob]
    last = {}
    for r in current_rows(RESULTS_DIR / "cifar10n.csv"):
        if r["part"] == part and r["method"] in methods:
            last[(r["method"], float(r["clean_fraction"]), int(r["seed"]))] = r
    return [
        {
            "knob": knob,
            "part": part,
            "variant": "default",
            "method": m,
            "clean_fraction": f,
            "seed": s,
            "score": float(last[(m, f, s)][metric_of(part)]),
            "val_best": last[(m, f, s)]["val_best"],
            "epochs": last[(m, f, s)]["epochs"],
            "seconds": last[(m, f, s)]["seconds"],
        }
        for m in methods
        for f in clean_fractions
        for s in range(seeds)
        if (m, f, s) in last
    ]


def summary(rows: list[dict]) -> str:
    """A markdown table: each (knob, method, fraction), the default and the knob, test mean ± sample std."""
    lines = [
        "| knob | part | method | clean | default | with the knob | difference |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    keys = dict.fromkeys((r["knob"], r["part"], r["method"], r["clean_fraction"]) for r in rows)
    for knob, part, method, f in keys:
        got = {
            v: np.array(
                [
                    100 * r["score"]
                    for r in rows
                    if (r["knob"], r["method"], r["clean_fraction"], r["variant"]) == (knob, method, f, v)
                ]
            )
            for v in ("default", knob)
        }
        a, b = got["default"], got[knob]
        lines.append(
            f"| {knob} | {part} | {method} | {100 * f:g}% | {a.mean():.2f} ± {a.std(ddof=1):.2f} | "
            f"{b.mean():.2f} ± {b.std(ddof=1):.2f} | {b.mean() - a.mean():+.2f} |"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--knobs", default=",".join(KNOBS))
    ap.add_argument("--methods", default="proposed")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--cache-dir", default="runs/cache")
    ap.add_argument("--out", default="runs/bench-knobs")
    ap.add_argument("--rerun-default", action="store_true", help="rerun the default side instead of reading the grid")
    args = ap.parse_args()
    args.methods = args.methods.split(",")
    start, rows = time.perf_counter(), []
    for knob in args.knobs.split(","):
        part = KNOBS[knob][0]
        tuned = Path(args.out) / knob / "tuned.json"  # the part's committed tuning, as its grid used it
        tuned.parent.mkdir(parents=True, exist_ok=True)
        tuned.write_text(json.dumps(tuned_in_table(RESULTS_DIR / f"tune_{part}.csv")))
        todo = cells(args, knob, tuned)
        if not args.rerun_default:
            rows += grid_rows(knob, args.methods, args.seeds)
        done = [c for c in todo if cell_finished(c, c.methods)]  # an interrupted run's finished cells are read back
        results = [cell_rows(c) for c in done]
        todo = [c for c in todo if c not in done]
        with ProcessPoolExecutor(max_workers=args.workers) as pool:
            for cell, result in chain(zip(done, results), zip(todo, pool.map(run_cell, todo))):
                variant = Path(cell.out).parent.name
                for r in result:
                    rows.append(
                        {
                            "knob": knob,
                            "part": part,
                            "variant": variant,
                            "method": r["method"],
                            "clean_fraction": cell.clean_fractions[0],
                            "seed": cell.first_seed,
                            "score": float(r[metric_of(part)]),
                            "val_best": r.get("val_best", ""),
                            "epochs": r.get("epochs", ""),
                            "seconds": r.get("seconds", ""),
                        }
                    )
                print(
                    f"{knob} {variant} clean {cell.clean_fractions[0]:g} seed {cell.first_seed}: "
                    + ", ".join(f"{r['method']} {100 * float(r[metric_of(part)]):.2f}" for r in result),
                    flush=True,
                )
    ResultsTable(CSV, tuple(COLUMNS), key=("knob", "part", "variant", "method", "clean_fraction", "seed")).append(rows)
    write_block(
        "knobs",
        summary(rows),
        f"Wall time {time.perf_counter() - start:.0f} s. Scores: mAP on annotated-mosaics, top-1 on "
        "annotated; everything else as the part ran it (its committed tuned values).",
    )


if __name__ == "__main__":
    main()
