"""The demo's ``report.md``: its results table, the measured noise of each task, plain sentences comparing the
paper's method with every other one, and the wrong training labels it found, checked against the known truth.

``demo.py`` runs the demo and writes this text next to its ``results.json``; ``results`` is that dict.
"""

from __future__ import annotations

from typing import Any

from ..methods import list_methods
from .tables import pct, results_table


def label_issue_lines(results: dict[str, Any]) -> list[str]:
    """What the label-issue finder found in each task's training set, against the known truth."""
    lines = []
    for task, res in results["tasks"].items():
        s = res.get("label_issues")
        if not s:
            continue
        unit = "noisy labels" if res["single_label"] else "(image, class) label entries"
        rule = "g contradicts them with a margin" if s.get("rule") == "contradiction" else s.get("rule", "")
        lines.append(
            f"- {task}: {s['flagged']:,} of {s['labels']:,} {unit} flagged as wrong ({s['score']} score; "
            f"rule: {rule}); precision {pct(s['precision']).strip()}%, recall {pct(s['recall']).strip()}% "
            f"against the known truth ({s['wrong']:,} wrong; ranking AUROC {s['auroc']:.3f}). Worst:"
        )
        lines += [
            f"  - image {w['image']}: given {w['given']}, g suggests {w['suggested']}, truth {w['truth']} "
            f"(quality {w['quality']:.3f})"
            for w in s["worst"]
        ]
    return lines


def _reading(tasks: dict[str, Any]) -> list[str]:
    """Plain sentences comparing ``proposed`` with each other method, computed from the results."""
    lines = []
    for task, res in tasks.items():
        proposed = list_methods(group="paper")[0]
        mine = res["methods"][proposed]
        for metric in ["top1"] if res["single_label"] else ["mAP", "AP_all", "top1"]:
            diffs = ", ".join(
                f"{other} {100 * (mine[metric] - m[metric]):+.1f}"
                for other, m in res["methods"].items()
                if other != proposed
            )
            lines.append(f"- {task} {metric}: proposed {pct(mine[metric]).strip()}%; proposed minus {diffs} points.")
        h = mine.get("h", {})
        if h:
            lines.append(
                f"- {task}: h = sigmoid(r + c), which fits the noisy labels, scores top-1 "
                f"{pct(h['top1']).strip()}% against the clean test labels (g: {pct(mine['top1']).strip()}%)."
            )
    return lines


def _noise_text(task: dict[str, Any]) -> str:
    """The noise measured on a task's noisy training labels, in words."""
    n = task["noise"]
    if task["single_label"]:
        return f"{100 * n['image']:.1f}% of noisy labels wrong (class-dependent flips)"
    return (
        f"{100 * n['image']:.1f}% of images with a wrong label set, {100 * n['missing']:.1f}% of true labels "
        f"missing, {100 * n['spurious']:.1f}% of noisy labels spurious"
    )


def demo_markdown(results: dict[str, Any], plot_name: str) -> str:
    """``report.md`` of the demo's ``results``, with the convergence plot ``plot_name`` beside it."""
    parts = [
        "# noisereg demo: noise regularization on real digit images",
        "",
        "Test-set scores of the classifier g = sigmoid(c), in %; each method's weights chosen on the "
        "validation share of the clean set, the test set used once.",
        "",
        results_table(results),
        "",
    ]
    for name, task in results["tasks"].items():
        noise = _noise_text(task)
        parts.append(
            f"- **{name}** ({task['scheme']} scheme): {task['n_clean']} clean + {task['n_noisy']} noisy "
            f"training images, {task['n_test']} test images; measured noise on D_n: {noise}."
        )
    parts += [
        "",
        "## Reading",
        "",
        *_reading(results["tasks"]),
        "",
        "## Wrong labels found by proposed",
        "",
        *label_issue_lines(results),
        "",
        f"![convergence]({plot_name})",
        "",
        f"Total time: {results['seconds']:.0f} s on {results['device']}.",
        "",
    ]
    return "\n".join(parts)
