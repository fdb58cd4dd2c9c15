"""Out of the box (issue 24): each method on its untuned defaults against its tuned result, on the parts of
``bench_cifar10n.py``, with that benchmark's data, features, validation and seeds.

The default side is what a user gets from ``noisereg train`` with no options: ``TrainConfig``'s
defaults (length and batch from the data, the method's own lr / weight decay / width / alpha / clean
share, patience in epochs). The tuned side is the part's committed rows in ``results/cifar10n.csv``
(every method tuned with 8 trials at 5% clean, at most 20 epochs of batch 128). Test scores are only
read at the end, as in the grid; nothing here is chosen on them.

    python benchmarks/bench_defaults.py --part annotated [--methods proposed,g-alone] [--fractions 0.02,0.05]
        [--seeds 3] [--workers 2]

Rows go to ``results/defaults.csv`` (``part, method, clean_fraction, default, default_std, tuned, seeds``;
means over the seeds, in points), merged with earlier parts; ``make_results.py`` renders the table.
"""
from __future__ import annotations

import argparse
import csv
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_cifar10n import FRACTIONS, RESULTS_DIR, _job, experiment, metric_of  # noqa: E402

CSV = RESULTS_DIR / "defaults.csv"
COLUMNS = ["part", "method", "clean_fraction", "default", "default_std", "tuned", "seeds"]
# the task's own settings (cifar10n's steps 2,000, hidden 256, lr 1e-3) set back to "from the data / the method"
UNSET = {"steps": 0, "epochs": None, "batch_size": 0, "hidden": None, "lr": None, "weight_decay": None,
         "alpha": None, "clean_ratio": None, "patience": 5.0}


def tuned_means(part: str, metric: str) -> dict[tuple[str, float], float]:
    """(method, clean fraction) -> the tuned grid's mean test score in points, from results/cifar10n.csv."""
    scores: dict[tuple[str, float], list[float]] = {}
    for r in csv.DictReader(open(RESULTS_DIR / "cifar10n.csv")):
        if r["part"] == part and r.get(metric) not in (None, ""):
            scores.setdefault((r["method"], float(r["clean_fraction"])), []).append(100 * float(r[metric]))
    return {k: float(np.mean(v)) for k, v in scores.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--part", required=True, choices=["worse", "random1", "aggre", "mosaics", "annotated",
                                                           "annotated-mosaics"])
    ap.add_argument("--methods", default="proposed,g-alone")
    ap.add_argument("--fractions", default=",".join(map(str, FRACTIONS)))
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--image-size", type=int, default=160)  # bench_cifar10n.py's, so its feature cache serves
    ap.add_argument("--mosaics", type=int, default=12_500)
    ap.add_argument("--cache-dir", default="runs/cache")
    ap.add_argument("--out", default="runs/bench-defaults")
    args = ap.parse_args()
    args.e2e_epochs, args.loader_workers = 0, 0
    part, methods, metric = args.part, args.methods.split(","), metric_of(args.part)
    start = time.perf_counter()
    cells = []
    for f in map(float, args.fractions.split(",")):
        for s in range(args.seeds):
            cells.append(experiment(args, part, methods, clean_fractions=[f], seeds=1, first_seed=s, train=dict(UNSET),
                                    out=f"{args.out}/{part}/f{f:g}-s{s}"))
    scores: dict[tuple[str, float], list[float]] = {}
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        for exp, rows in zip(cells, pool.map(_job, cells)):
            for r in rows:
                scores.setdefault((r["method"], float(r["clean_fraction"])), []).append(100 * float(r[metric]))
            print(f"{part}: clean {exp.clean_fractions[0]:g} seed {exp.first_seed}: " +
                  ", ".join(f"{r['method']} {100 * float(r[metric]):.1f}" for r in rows), flush=True)
    tuned = tuned_means(part, metric)
    new = [{"part": part, "method": m, "clean_fraction": f, "default": round(float(np.mean(v)), 2),
            "default_std": round(float(np.std(v, ddof=1)) if len(v) > 1 else 0.0, 2),
            "tuned": round(tuned[(m, f)], 2) if (m, f) in tuned else "", "seeds": len(v)}
           for (m, f), v in sorted(scores.items())]
    keys = {(r["part"], r["method"], float(r["clean_fraction"])) for r in new}
    old = [r for r in csv.DictReader(open(CSV))] if CSV.exists() else []
    kept = [r for r in old if (r["part"], r["method"], float(r["clean_fraction"])) not in keys]
    with CSV.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=COLUMNS)
        w.writeheader()
        w.writerows(kept + new)
    for r in new:
        print(f"{r['method']:10s} {r['clean_fraction']:g}: default {r['default']:.2f} ± {r['default_std']:.2f}, "
              f"tuned {r['tuned']}")
    print(f"{part}: {len(cells)} cells in {(time.perf_counter() - start) / 60:.1f} min; rows in {CSV}")


if __name__ == "__main__":
    main()
