"""What an experiment grid leaves in its folder: one ``results.csv`` row per run, ``table.md`` (mean ± std over
seeds in the layout of the paper's Tables 2/3/5), one convergence plot per activation (Fig. 4) and ``report.html``.

``experiment.py`` runs the grid and calls these. ``exp`` is its ``ExperimentConfig``, a layer above this package,
so it is typed ``Any`` here and only its fields are read.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from ..config import TrainConfig
from ..safe_io import write_csv, write_text
from .evidence import write_evaluation
from .html import write_report
from .summary import data_summary, write_curves, write_summary
from .tables import mean_std_over_seeds, plot_convergence

CSV_COLUMNS = [
    "dataset",
    "noise",
    "method",
    "clean_fraction",
    "activation",
    "alpha",
    "seed",
    "top1",
    "mAP",
    "AP_all",
    "epochs",
    "best_epoch",
    "val_best",
    "hyperparameters",
    "seconds",
    "commit",
]


def results_row(
    exp: Any,
    task: Any,
    cfg: TrainConfig,
    spec: Any,
    fraction: float,
    activation: str,
    scores: dict[str, float],
    history: list[dict],
    seconds: float,
) -> dict[str, Any]:
    """One results.csv row: the setting, the test scores, how long it trained and the values it used."""
    last, cfg = (history[-1] if history else {}), cfg.resolved()  # the values the run trained with
    return {
        "dataset": exp.data if exp.data != "manifest" else task.name,
        "noise": exp.noise if exp.data.startswith("cifar") else "-",
        "method": cfg.method,
        "clean_fraction": fraction,
        "activation": activation,
        "alpha": cfg.alpha if spec.uses_alpha else "-",
        "seed": cfg.seed,
        **{k: round(scores[k], 5) for k in ("top1", "mAP", "AP_all")},
        "epochs": round(float(last.get("epoch", 0.0)), 2),  # where training stopped
        "best_epoch": next(
            (round(float(r["best_epoch"]), 2) for r in reversed(history) if "best_epoch" in r), "-"
        ),  # where the kept weights are
        "val_best": round(float(last["val_best"]), 5) if last.get("val_best") is not None else "-",
        "hyperparameters": ";".join(f"{k}={getattr(cfg, k)}" for k in spec.tunable),
        "seconds": round(seconds, 2),
    }


def summary_table(rows: list[dict[str, Any]], fractions: list[float], metrics: list[str]) -> str:
    """Markdown: one row per (method, activation), columns metric x clean fraction, mean ± std in %."""
    keys, columns, cells = mean_std_over_seeds(rows, fractions, metrics)
    lines = ["| method | activation | " + " | ".join(columns) + " |", "|---|---|" + "---:|" * len(columns)]
    for (method, act), line in zip(keys, cells):
        shown = " | ".join(f"{c[0]:.2f} ± {c[1]:.2f}" if c else "-" for c in line)
        lines.append(f"| {method} | {act} | {shown} |")
    return "\n".join(lines)


def write_grid(
    out: Path,
    exp: Any,
    rows: list[dict],
    skipped: dict[str, str],
    curves: dict[str, dict],
    single_label: bool,
) -> None:
    """``results.csv``, one convergence plot per activation (the methods without one in each), ``curves.csv``
    and ``table.md`` with the methods that refused the data."""
    write_csv(out / "results.csv", rows, list(CSV_COLUMNS))
    metrics = ["top1"] if single_label else ["mAP", "AP_all", "top1"]
    metric = metrics[0]
    shared = curves.pop("-", {})  # methods without the heads' activation appear in every plot
    for activation in curves or {"all": None}:
        for fraction, by_method in shared.items():
            curves.setdefault(activation, {}).setdefault(fraction, {}).update(by_method)
    for activation, by_fraction in curves.items():
        plot_convergence(
            {f"clean {k}": v for k, v in by_fraction.items()},
            out / f"convergence_{activation}.png",
            {f"clean {k}": metric for k in by_fraction},
        )
    write_curves(
        out,
        {
            f"clean {k}" + (f", {a}" if len(curves) > 1 else ""): v
            for a, by_fraction in curves.items()
            for k, v in by_fraction.items()
        },
    )
    text = [
        f"# Experiment: {exp.data}" + (f" ({exp.noise} labels)" if exp.data.startswith("cifar") else ""),
        "",
        f"Mean ± std over {exp.seeds} seed(s), in %, on the test set (each run's weights chosen on the "
        "validation share of its clean set); columns are metric @ clean fraction.",
        "",
        summary_table(rows, exp.clean_fractions, metrics),
        "",
    ]
    if skipped:
        text += ["Skipped (the method refuses this data):", ""] + [f"- {m}: {why}" for m, why in skipped.items()] + [""]
    text += [f"![convergence {a}](convergence_{a}.png)" for a in curves] + [""]
    write_text(out / "table.md", "\n".join(text))


def write_grid_report(
    out: Path, exp: Any, base: TrainConfig, task: Any, scores: dict[str, Any], *, compare: list[str]
) -> None:
    """``out/report.html``: the table and curves of the grid, per-class AP and examples of its first setting
    (``compare``: the runs of ``scores`` shown beside the featured one, the paper's Fig. 3 columns)."""
    from ..methods import list_methods

    metric = "top1" if task.single_label else "mAP"
    settings = {k: v for k, v in vars(exp).items() if k != "train"}
    write_summary(
        out,
        kind="experiment",
        title=f"noisereg experiment: {exp.data}" + (f" ({exp.noise} labels)" if exp.data.startswith("cifar") else ""),
        settings={**settings, "train": base.to_dict()},
        data=[
            data_summary(
                f"{task.name} at clean fraction {exp.clean_fractions[0]:g}",
                task.train,
                test=task.test,
                noise=task.noise,
            )
        ],
        metric=metric,
    )
    if scores:
        paper = [k for k in scores if k.split(" (")[0] in list_methods(group="paper")]
        test = replace(task.test, images=task.photos) if task.photos is not None else task.test  # photos to show
        write_evaluation(
            out,
            f"clean {exp.clean_fractions[0]:g}, seed {exp.first_seed}",
            test,
            scores,
            featured=(paper or list(scores))[0],
            split="test",
            compare=compare,
        )
    write_report(out)
