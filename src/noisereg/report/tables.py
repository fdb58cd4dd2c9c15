"""Tables, JSON and plots of results: the paper's Table 5 layout, mean ± std over seeds (Tables 2/3),
Fig. 4-style convergence curves, and the versions that produced a result."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..safe_io import atomic_write, output_dir, write_json, write_text

METRIC_NAMES = {"top1": "top-1", "mAP": "mAP", "AP_all": "AP_all"}


def pct(value: float) -> str:
    return f"{100 * value:5.1f}"


def results_table(results: dict[str, Any]) -> str:
    """A markdown table: one row per method, one column per (task, metric), values in %.

    Single-label tasks show top-1; multi-label tasks show mAP, AP_all and top-1 (as Table 5).
    """
    tasks = results["tasks"]
    columns = [
        (t, m)
        for t, task in tasks.items()
        for m in (["top1"] if task.get("single_label") else ["mAP", "AP_all", "top1"])
    ]
    methods = list(dict.fromkeys(m for task in tasks.values() for m in task["methods"]))
    head = "| method | " + " | ".join(f"{t} {METRIC_NAMES[m]}" for t, m in columns) + " |"
    rule = "|---|" + "---:|" * len(columns)
    rows = [
        f"| {name} | "
        + " | ".join(pct(tasks[t]["methods"][name][m]) if name in tasks[t]["methods"] else "-" for t, m in columns)
        + " |"
        for name in methods
    ]
    return "\n".join([head, rule, *rows])


def plot_convergence(histories: dict[str, dict[str, list[dict]]], path: str | Path, metric_of: dict[str, str]) -> Path:
    """One panel per task: the evaluation metric of g against training step, one line per method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(histories), figsize=(5.5 * len(histories), 4), squeeze=False)
    names = list(dict.fromkeys(m for by_method in histories.values() for m in by_method))
    color = {m: f"C{i % 10}" for i, m in enumerate(names)}  # one colour per method in every panel
    for ax, (task, by_method) in zip(axes[0], histories.items()):
        key = f"val_{metric_of[task]}"
        for method, records in by_method.items():
            pts = [(r.get("x", i + 1), r[key]) for i, r in enumerate(records) if key in r]
            if pts:
                ax.plot([p[0] for p in pts], [100 * p[1] for p in pts], label=method, color=color[method])
        ax.set(
            title=f"{task}: test {METRIC_NAMES[metric_of[task]]} of the final classifier",
            xlabel="training step (frozen scheme: heads start after Backbone (Noisy))",
            ylabel=f"{METRIC_NAMES[metric_of[task]]} (%)",
        )
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=110, format=Path(path).suffix.lstrip(".") or "png"))
    plt.close(fig)
    return Path(path)


def write_results(out: str | Path, results: dict[str, Any], markdown: str) -> None:
    """``results.json`` and ``report.md`` into ``out``."""
    out = output_dir(out)
    write_json(out / "results.json", results, indent=2)
    write_text(out / "report.md", markdown)


def mean_std_over_seeds(
    rows: list[dict[str, Any]], fractions: list[float], metrics: list[str]
) -> tuple[list[tuple[str, str]], list[str], list[list[tuple | None]]]:
    """Experiment rows aggregated as the paper's tables: one row per (method, activation), one column per
    metric x clean fraction, each cell (mean, sample std with ddof 1; 0 for one seed) in % over seeds (None
    where nothing ran).

    Returns:
        (row keys, column labels ``metric @ fraction``, cells).
    """
    keys = list(dict.fromkeys((r["method"], r["activation"]) for r in rows))
    columns = [(m, f) for m in metrics for f in fractions]
    cells = []
    for key in keys:
        line = []
        for m, f in columns:
            vals = [
                100 * float(r[m])
                for r in rows
                if (r["method"], r["activation"]) == key and float(r["clean_fraction"]) == f
            ]
            line.append((float(np.mean(vals)), float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0) if vals else None)
        cells.append(line)
    return keys, [f"{m} @ {f:g}" for m, f in columns], cells


def best_in_columns(cells: list[list[tuple | None]]) -> list[int | None]:
    """Per column, the row index of the highest mean (None for an empty column): what a table sets in bold."""
    best = []
    for j in range(len(cells[0]) if cells else 0):
        values = [(cell[0], i) for i, c in enumerate(cells) if (cell := c[j]) is not None]
        best.append(max(values)[1] if values else None)
    return best


def versions() -> dict[str, str]:
    """The versions that produced a result (the README's figures and every report quote them)."""
    import platform

    import sklearn
    import torch

    import noisereg

    return {
        "noisereg": noisereg.__version__,
        "commit": source_commit(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "scikit-learn": sklearn.__version__,
        "machine": platform.machine(),
    }


def source_commit() -> str:
    """The git commit of the noisereg source that runs (``+dirty`` when the package's files differ from it),
    so a figure can be traced to its code; "" for an installed copy outside a git checkout."""
    import subprocess
    from pathlib import Path

    here = Path(__file__).resolve().parents[1]
    try:
        head = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "--short=10", "HEAD"], capture_output=True, text=True, timeout=10
        )
        if head.returncode:
            return ""
        dirty = subprocess.run(
            ["git", "-C", str(here), "status", "--porcelain", "--", "."], capture_output=True, text=True, timeout=10
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""
    return head.stdout.strip() + ("+dirty" if dirty else "")
