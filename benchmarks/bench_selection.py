"""Selection with a small clean set (issue 24 item 4): how well each rule for choosing the weights to keep
(and when to stop) does when the validation set has only tens of images.

One run of ``proposed`` per seed on its untuned defaults (``bench_defaults.UNSET``), never stopped early,
scored at every evaluation on the whole validation pool (the part's 20% of the clean set, 500 images at
5% clean) image by image, and on the test split (measurement only: no rule below reads it). Then, offline,
many validation sets of n images are drawn from the pool and every rule picks an evaluation from those n
images' curve alone; the rule's result is the test top-1 of the evaluation it picked. ``oracle`` (the best
test top-1 of the run) is the ceiling the regret is measured against.

    python -m benchmarks.bench_selection [--parts worse,annotated] [--fraction 0.05] [--seeds 3]
        [--sizes 10,25,50,100,200,500] [--draws 300]

Writes ``results/selection.csv`` (part, rule, n, mean test top-1, std over draws and seeds, mean regret) and
appends the tables to RESULTS.md.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.bench_defaults import UNSET
from benchmarks.common import RESULTS_DIR, ResultsTable, write_block
from benchmarks.parts import experiment

CSV = RESULTS_DIR / "selection.csv"


def curves(args: argparse.Namespace, part: str, seed: int) -> dict[str, Any]:
    """One never-stopped run's per-evaluation record: steps, each validation image's correctness and BCE,
    and test top-1 (in a worker with one thread); kept in ``args.out`` (``.npz``, no pickle) and read back
    from there by a later call, so the rules can be re-simulated without retraining."""
    saved = Path(args.out) / f"{part}-f{args.fraction:g}-s{seed}.npz"
    if saved.exists():
        with np.load(saved, allow_pickle=False) as z:
            return {
                "part": part,
                "seed": seed,
                **{k: z[k] for k in ("steps", "correct", "bce", "test")},
                "total": int(z["total"]),
                "patience": int(z["patience"]),
            }
    run = _train_and_record(args, part, seed)
    saved.parent.mkdir(parents=True, exist_ok=True)
    np.savez(saved, **{k: np.asarray(v) for k, v in run.items() if k not in ("part", "seed")})
    return run


def _train_and_record(args: argparse.Namespace, part: str, seed: int) -> dict[str, Any]:
    import torch

    from noisereg.config import TrainConfig
    from noisereg.experiment import TASKS
    from noisereg.train import fit
    from noisereg.train.length import patience_evaluations

    torch.set_num_threads(1)
    exp = experiment(args, part, ["proposed"], train={**UNSET, "patience": 0.0})
    spec = TASKS[exp.data]
    task = spec.builder(exp, torch.device("cpu"))(args.fraction, seed)
    train, val, _ = task.holdout(0.2, seed)
    cfg = TrainConfig.from_dict(
        {**spec.default_train(exp), **exp.train, "quiet": True, "method": "proposed", "seed": seed}
    )
    vx, vy = torch.from_numpy(np.asarray(val.images, np.float32)), torch.from_numpy(val.clean.astype(np.float32))
    tx, ty = torch.from_numpy(np.asarray(task.test.images, np.float32)), task.test.clean.argmax(1)
    correct, bce, test = [], [], []

    def record(_scores: dict, model: torch.nn.Module) -> None:
        with torch.inference_mode():
            z = model(vx)["logits"]
            correct.append((z.argmax(1) == vy.argmax(1)).numpy())
            bce.append(torch.nn.functional.binary_cross_entropy_with_logits(z, vy, reduction="none").mean(1).numpy())
            test.append(float((model(tx)["logits"].argmax(1).numpy() == ty).mean()))
        model.train()

    start = time.perf_counter()
    result = fit(train, cfg, eval_set=val, on_evaluation=record, print_evaluations=False)
    steps = [int(h["step"]) for h in result.history if "val_bce" in h]
    (length,) = result.meta["length"].values()
    patience = patience_evaluations(
        cfg.replace(patience=TrainConfig().patience), length["steps_per_epoch"], length["eval_every"]
    )  # what a default run would wait
    print(
        f"{part} seed {seed}: {len(test)} evaluations, last test top-1 {100 * test[-1]:.1f}, best "
        f"{100 * max(test):.1f} ({time.perf_counter() - start:.0f} s)",
        flush=True,
    )
    return {
        "part": part,
        "seed": seed,
        "steps": np.asarray(steps),
        "correct": np.stack(correct),
        "bce": np.stack(bce),
        "test": np.asarray(test),
        "total": int(length["steps"]),
        "patience": patience,
    }


def library_rule(
    metric: np.ndarray, loss: np.ndarray, steps: np.ndarray, total: int, patience: int, by_loss: bool = False
) -> int:
    """What ``fit`` keeps: ``Selection`` (the best metric, or with ``by_loss`` the lowest loss, ties to the later;
    patience counting evaluations in which neither the metric nor the loss improved) with early stopping only
    after a fifth of the run."""
    import torch

    from noisereg.train.selection import Selection

    sel, dummy = Selection("top1", patience, select=False, by_loss=by_loss), torch.nn.Linear(1, 1)
    for e, step in enumerate(steps):
        if sel.update(int(step), {"top1": float(metric[e]), "bce": float(loss[e])}, dummy) and step > total // 5:
            break
    return int(np.flatnonzero(steps == sel.best_step)[0])


def _last_argmax(v: np.ndarray) -> int:
    return int(len(v) - 1 - np.argmax(v[::-1]))


def smoothed(v: np.ndarray, window: int = 3) -> np.ndarray:
    """The centred moving average of a curve (the ends average what they have)."""
    kernel = np.ones(window)
    return np.convolve(v, kernel, "same") / np.convolve(np.ones_like(v), kernel, "same")


RULES: dict[str, Callable[..., int]] = {
    "library before 2026-12-04 (best top-1, ties later, patience on top-1 or loss)": library_rule,
    "library since (lowest loss, ties later, same patience)": lambda *a: library_rule(*a, by_loss=True),
    "best top-1, ties later, never stop": lambda m, loss, *_: _last_argmax(m),
    "best top-1, ties earlier": lambda m, loss, *_: int(np.argmax(m)),
    "best top-1, ties by lower loss": lambda m, loss, *_: int(np.lexsort((loss, -m))[0]),
    "lowest validation loss": lambda m, loss, *_: int(np.argmin(loss)),
    "best smoothed top-1 (3 evaluations)": lambda m, loss, *_: _last_argmax(smoothed(m)),
    "last evaluation": lambda m, loss, *_: len(m) - 1,
}


ORACLE = "oracle (the run's best test top-1; not a rule)"


def simulate(run: dict[str, Any], sizes: list[int], draws: int, rng: np.random.Generator) -> dict[tuple, list[float]]:
    """(rule, n) -> the test top-1 of the evaluation each rule picks, one per validation set of n images drawn
    from the run's pool (the whole pool once when n reaches it); ``ORACLE`` repeats the run's best."""
    pool = run["correct"].shape[1]
    out: dict[tuple, list[float]] = {}
    for n in sizes:
        for _ in range(draws if n < pool else 1):
            rows = rng.choice(pool, size=min(n, pool), replace=False)
            metric, loss = run["correct"][:, rows].mean(1), run["bce"][:, rows].mean(1)
            for name, rule in RULES.items():
                out.setdefault((name, n), []).append(
                    float(run["test"][rule(metric, loss, run["steps"], run["total"], run["patience"])])
                )
            out.setdefault((ORACLE, n), []).append(float(run["test"].max()))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--parts", default="worse,annotated")
    ap.add_argument("--fraction", type=float, default=0.05)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--sizes", default="10,25,50,100,200,500")
    ap.add_argument("--draws", type=int, default=300)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--image-size", type=int, default=160)
    ap.add_argument("--mosaics", type=int, default=12_500)
    ap.add_argument("--cache-dir", default="runs/cache")
    ap.add_argument("--out", default="runs/bench-selection")
    args = ap.parse_args()
    args.e2e_epochs, args.loader_workers, args.fractions = 0, 0, str(args.fraction)
    sizes, start = [int(s) for s in args.sizes.split(",")], time.perf_counter()
    jobs = [(p, s) for p in args.parts.split(",") for s in range(args.seeds)]
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        runs = list(pool.map(curves, [args] * len(jobs), *zip(*jobs)))
    rows = []
    for part in args.parts.split(","):
        picked: dict[tuple, list[float]] = {}
        for run in (r for r in runs if r["part"] == part):
            for key, v in simulate(run, sizes, args.draws, np.random.default_rng(run["seed"])).items():
                picked.setdefault(key, []).extend(v)
        for (rule, n), v in picked.items():
            regret = np.mean(np.asarray(picked[(ORACLE, n)]) - np.asarray(v))
            rows.append(
                {
                    "part": part,
                    "fraction": args.fraction,
                    "rule": rule,
                    "n": n,
                    "top1": round(100 * float(np.mean(v)), 2),
                    "std": round(100 * float(np.std(v)), 2),
                    "regret": round(100 * float(regret), 2),
                    "picks": len(v),
                }
            )
    ResultsTable(CSV, tuple(rows[0])).write(rows)
    tables = []
    for part in args.parts.split(","):
        lines = [
            f"{part}, {args.fraction:.0%} clean: test top-1 of the kept weights, mean ± std over {args.seeds} "
            f"seeds x {args.draws} validation draws of n images (in brackets: the mean regret against the "
            "run's best evaluation)",
            "",
            "| rule | " + " | ".join(f"n={n}" for n in sizes) + " |",
            "|---|" + "---:|" * len(sizes),
        ]
        for rule in dict.fromkeys(r["rule"] for r in rows):
            cells = {r["n"]: r for r in rows if r["part"] == part and r["rule"] == rule}
            lines.append(
                f"| {rule} | "
                + " | ".join(
                    f"{cells[n]['top1']:.2f} ± {cells[n]['std']:.2f} ({cells[n]['regret']:.2f})" for n in sizes
                )
                + " |"
            )
        tables.append("\n".join(lines))
    runs_line = "; ".join(
        f"{r['part']} seed {r['seed']}: {len(r['test'])} evaluations, patience {r['patience']}" for r in runs
    )
    write_block(
        "selection",
        "\n\n".join(tables),
        f"`proposed` on its defaults, never stopped, scored at every evaluation ({runs_line}); "
        f"wall time {(time.perf_counter() - start) / 60:.1f} min. Rows in `results/selection.csv`.",
    )


if __name__ == "__main__":
    main()
