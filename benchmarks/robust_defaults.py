"""Which tuned values hold up across the benchmark parts: the evidence for per-method defaults (issue 24).

Equal-budget tuning (``bench_cifar10n.py``) draws each method's candidates from one seeded sampler, so the
same candidate is tried on every part that tunes the method. For each method this script keeps the
candidates scored on all of its tuned parts and ranks them by their mean regret on validation: the part's
best validation score minus the candidate's, in points. The least mean regret (ties: the least worst-part
regret) is the robust choice; trial 0, the starting point every study is given, is shown beside it.
Validation scores only (never test), so the choice can become a default without touching the answer.

    python -m benchmarks.robust_defaults

Writes ``results/robust_defaults.csv`` and appends its table to RESULTS.md.
"""

from __future__ import annotations

import argparse
import csv
import math
from collections import defaultdict

from benchmarks.common import RESULTS_DIR, ResultsTable, write_block

PARTS = ("worse", "mosaics", "annotated", "annotated-mosaics")
VALUES = ("lr", "weight_decay", "hidden", "alpha", "clean_ratio")
OUT = RESULTS_DIR / "robust_defaults.csv"


def candidates() -> dict[str, dict[tuple, dict[str, tuple[int, float]]]]:
    """method -> candidate values -> part -> (trial, validation score); failed trials left out."""
    found: dict = defaultdict(lambda: defaultdict(dict))
    for part in PARTS:
        path = RESULTS_DIR / f"tune_{part}.csv"
        if not path.exists():
            continue
        for row in csv.DictReader(open(path)):
            value = float(row["value"]) if row["value"] else math.nan
            if math.isnan(value):
                continue
            key = tuple(
                (int(float(row[k])) if k == "hidden" else round(float(row[k]), 6)) if row[k] else None for k in VALUES
            )
            found[row["method"]][key][part] = (int(row["trial"]), value)
    return found


def regrets(scored: dict[str, tuple[int, float]], best: dict[str, float]) -> tuple[float, float]:
    """(mean, worst) validation regret in points of one candidate over the parts in ``best``."""
    gaps = [100 * (best[p] - scored[p][1]) for p in best]
    return sum(gaps) / len(gaps), max(gaps)


def robust(method: str, by_key: dict[tuple, dict[str, tuple[int, float]]]) -> dict:
    """The candidate of least mean regret over the method's tuned parts, and trial 0's regret."""
    parts = sorted({p for scored in by_key.values() for p in scored})
    best = {p: max(s[p][1] for s in by_key.values() if p in s) for p in parts}
    complete = {k: s for k, s in by_key.items() if len(s) == len(parts)}
    ranked = sorted(complete, key=lambda k: regrets(complete[k], best))
    chosen = ranked[0]
    first = next((k for k, s in complete.items() if all(t == 0 for t, _ in s.values())), None)
    mean, worst = regrets(complete[chosen], best)
    row = {
        "method": method,
        "parts": " ".join(parts),
        "candidates": len(complete),
        **{k: ("" if v is None else v) for k, v in zip(VALUES, chosen)},
        "trials": " ".join(str(complete[chosen][p][0]) for p in parts),
        "mean_regret": round(mean, 2),
        "worst_regret": round(worst, 2),
    }
    if first is not None:
        m0, w0 = regrets(complete[first], best)
        row.update(trial0_mean_regret=round(m0, 2), trial0_worst_regret=round(w0, 2))
    return row


def main() -> None:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()  # no options: --help only
    rows = [robust(m, by_key) for m, by_key in candidates().items()]
    ResultsTable(OUT, tuple(dict.fromkeys(k for r in rows for k in r))).write(rows)
    head = (
        "| method | parts | lr | weight decay | hidden | alpha | clean share | mean / worst regret | "
        "trial 0's mean / worst |\n|---|---|---:|---:|---:|---:|---:|---:|---:|"
    )
    lines = [
        f"| {r['method']} | {r['parts']} | {r['lr']:.2g} | {r['weight_decay']:.2g} | {r['hidden']} | "
        f"{r['alpha'] if r['alpha'] == '' else round(r['alpha'], 3)} | "
        f"{r['clean_ratio'] if r['clean_ratio'] == '' else round(r['clean_ratio'], 3)} | "
        f"{r['mean_regret']:.2f} / {r['worst_regret']:.2f} | "
        f"{r.get('trial0_mean_regret', '')} / {r.get('trial0_worst_regret', '')} |"
        for r in rows
    ]
    write_block(
        "robust-defaults",
        head + "\n" + "\n".join(lines),
        "Each method's candidate with the least mean validation regret (part's best validation score "
        "minus the candidate's) over the parts that tuned it, among the candidates scored on all of "
        "them (8 seeded trials a part, one seed, the part's tuning fraction). Trial 0 is the starting "
        "point of every study (lr 1e-3, weight decay 5.5e-5, hidden 256, alpha 0.2, clean share 0.1). "
        "Methods tuned on one or two parts (the single-label-only ones) have thin evidence. Validation "
        "only: no test score enters the choice.",
    )


if __name__ == "__main__":
    main()
