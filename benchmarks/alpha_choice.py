"""What choosing alpha on validation gives (issue 24, ``train/choice.py``), from the per-seed runs of the
alpha ablation (``bench_defaults.py --variant a05:alpha=0.05 --variant a02:alpha=0.02``).

A run that leaves alpha unset trains the heads with 0.2, 0.05 and 0.02, keeps the one whose kept weights
score best on validation (a tie: the earlier) and trains its own run with it, which is that candidate's run
again (same seed and values; ``tests/test_choice.py`` checks that the weights are equal). So each seed's
outcome can be read off the three candidates' runs: the validation column picks, the test column is read
at the end. Cells rerun through the real path (``bench_defaults.py`` with today's library) are in
``results/defaults.csv``; this table is the rest, and the check that the two agree.

    python -m benchmarks.alpha_choice [--collect runs/bd-worse runs/bd-am ...] [--write]

``--collect`` gathers the ablation's run folders into ``results/alpha_candidates.csv`` (one row per part,
fraction, seed and candidate); without it the committed CSV is read.
"""

from __future__ import annotations

import argparse
import csv
import re
from collections import defaultdict
from pathlib import Path

import numpy as np

from benchmarks.bench_defaults import DEFAULTS_TABLE
from benchmarks.common import RESULTS_DIR, SUPERSEDED, ResultsTable
from benchmarks.parts import get_part

RUNS = RESULTS_DIR / "alpha_candidates.csv"
DEFAULTS = DEFAULTS_TABLE
NAMES = {"defaults": 0.2, "a05": 0.05, "a02": 0.02}  # the variant names of the ablation -> alpha
ORDER = (0.2, 0.05, 0.02)  # registry order: a tie keeps the earlier


def collect(folders: list[str]) -> None:
    """Per-seed validation and test scores of every candidate run found under ``folders``."""
    rows = []
    for folder in folders:
        for path in sorted(Path(folder).glob("*/*/results.csv")):
            m = re.fullmatch(r"(.+)-f([\d.]+)-s(\d+)", path.parent.name)
            if not m or m.group(1) not in NAMES:
                continue
            part = path.parent.parent.name
            metric = get_part(part).metric
            r = next(r for r in csv.DictReader(open(path)) if r["method"] == "proposed")
            rows.append(
                {
                    "part": part,
                    "clean_fraction": float(m.group(2)),
                    "seed": int(m.group(3)),
                    "alpha": NAMES[m.group(1)],
                    "val": round(100 * float(r["val_best"]), 4),
                    "test": round(100 * float(r[metric]), 4),
                }
            )
    ResultsTable(RUNS, ("part", "clean_fraction", "seed", "alpha", "val", "test")).write(rows)


def chosen_cells() -> dict[tuple[str, float], list[tuple[float, float, float]]]:
    """(part, fraction) -> per seed (test at alpha 0.2, test at the validation's choice, the choice)."""
    cells: dict = defaultdict(dict)
    for r in csv.DictReader(open(RUNS)):
        cells[(r["part"], float(r["clean_fraction"]), int(r["seed"]))][float(r["alpha"])] = (
            float(r["val"]),
            float(r["test"]),
        )
    out: dict = defaultdict(list)
    for (part, f, _seed), c in sorted(cells.items()):
        if set(c) != set(ORDER):
            continue
        pick = max(ORDER, key=lambda a: (c[a][0], -ORDER.index(a)))
        out[(part, f)].append((c[0.2][1], c[pick][1], pick))
    return out


def table() -> str:
    """Per (part, fraction): the paper's 0.2, the validation choice, the tuned row, and the choice per seed."""
    tuned = {(r["part"], float(r["clean_fraction"])): r["tuned"] for r in DEFAULTS.read() if r["method"] == "proposed"}
    out = chosen_cells()
    lines = [
        "| part | clean | alpha 0.2 | chosen on validation | tuned | chosen - tuned | per seed |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for (part, f), v in sorted(out.items()):
        paper, chosen = np.array([a for a, _, _ in v]), np.array([b for _, b, _ in v])
        t = float(tuned[(part, f)]) if tuned.get((part, f)) else float("nan")
        lines.append(
            f"| {part} | {f:g} | {paper.mean():.2f} ± {paper.std(ddof=1):.2f} | {chosen.mean():.2f} ± "
            f"{chosen.std(ddof=1):.2f} | {t:.2f} | {chosen.mean() - t:+.2f} | "
            f"{' '.join(f'{p:g}' for *_, p in v)} |"
        )
    return "\n".join(lines) + "\n"


def write() -> None:
    """Put the choice's cells into ``results/defaults.csv`` as ``proposed``'s defaults (source ``candidates``),
    except where a cell was run through the library with the choice (source ``run``)."""
    rows = DEFAULTS.read(current=False)
    for (part, f), v in chosen_cells().items():
        chosen = np.array([b for _, b, _ in v])
        row = next(
            (r for r in rows if (r["part"], r["method"], float(r["clean_fraction"])) == (part, "proposed", f)), None
        )
        if row is None or row.get("source") == "run" or row.get(SUPERSEDED):
            continue
        row.update(
            default=round(float(chosen.mean()), 2),
            default_std=round(float(chosen.std(ddof=1)), 2),
            seeds=len(v),
            source="candidates",
        )
    DEFAULTS.write(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--collect", nargs="*", help="run folders of the alpha ablation to gather first")
    ap.add_argument("--write", action="store_true", help="put the cells into results/defaults.csv (source candidates)")
    args = ap.parse_args()
    if args.collect:
        collect(args.collect)
    if args.write:
        write()
    print(table())


if __name__ == "__main__":
    main()
