"""The demo over several seeds: the README's table (seed 0), its seed-to-seed spread, the versions.

Runs ``noisereg demo`` (the library call) for seeds 0..N-1, writes ``benchmarks/results/demo.csv``
(one row per seed, method, task and metric) and appends the mean ± std table to RESULTS.md. The
demo's test asserts the ordering with margins below the smallest gap seen here.

    python -m benchmarks.bench_demo [--seeds 5]
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np

from benchmarks.common import RESULTS_DIR, ResultsTable, write_block


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=5)
    args = ap.parse_args()
    from noisereg.demo import run_demo, versions

    rows, start = [], time.perf_counter()
    for seed in range(args.seeds):
        with tempfile.TemporaryDirectory() as tmp:
            res = run_demo(tmp, seed=seed, quiet=True)
        for task, t in res["tasks"].items():
            for method, scores in t["methods"].items():
                for metric in ("top1", "mAP", "AP_all"):
                    rows.append(
                        {
                            "seed": seed,
                            "task": task,
                            "method": method,
                            "metric": metric,
                            "value": round(100 * scores[metric], 2),
                            "seconds": res["seconds"],
                        }
                    )
        print(f"seed {seed}: {res['seconds']:.0f} s", flush=True)
    ResultsTable(RESULTS_DIR / "demo.csv", tuple(rows[0])).write(rows)
    print(table(rows))
    write_block(
        "demo",
        "",
        f"Versions: {versions()}. Wall time {(time.perf_counter() - start) / 60:.1f} min ({args.seeds} demo runs).",
    )


def table(rows: list[dict]) -> str:
    """Mean ± sample std over seeds and the smallest gap between proposed and each other method (the
    largest where the other method leads: the gap's sign says who)."""
    cols = [("single-label", "top1"), ("multi-label", "mAP"), ("multi-label", "AP_all"), ("multi-label", "top1")]
    methods = list(dict.fromkeys(r["method"] for r in rows))
    get = {(r["seed"], r["task"], r["method"], r["metric"]): r["value"] for r in rows}
    seeds = sorted({r["seed"] for r in rows})
    lines = ["| method | " + " | ".join(f"{t} {m}" for t, m in cols) + " |", "|---|" + "---:|" * len(cols)]
    for m in methods:
        cells = [np.array([get.get((s, t, m, k), np.nan) for s in seeds]) for t, k in cols]
        lines.append(
            f"| {m} | "
            + " | ".join("-" if np.isnan(c).all() else f"{c.mean():.1f} ± {c.std(ddof=1):.1f}" for c in cells)
            + " |"
        )
    for m in methods[1:]:
        gaps = [[get[(s, t, methods[0], k)] - get[(s, t, m, k)] for s in seeds if (s, t, m, k) in get] for t, k in cols]
        lines.append(
            f"| gap {methods[0]} - {m}: smallest / largest | "
            + " | ".join(f"{min(g):+.1f} / {max(g):+.1f}" if g else "-" for g in gaps)
            + " |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
