"""The self-contained HTML report of a run folder, rendered with Jinja2.

One file, every image and plot inlined as a ``data:`` URI, styles and the table sorter inline: it
opens from disk with no network access. ``write_report`` is what ``noisereg report`` and the end of
``train``, ``experiment`` and ``demo`` call.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from ..safe_io import output_file, write_text
from .collect import (
    curves_of,
    demo_results,
    evaluation_view,
    experiment_results,
    kept_by,
    kind_of,
    suspects_of,
    train_results,
)
from .evidence import read_evaluations
from .summary import read_summary

REPORT_FILE = "report.html"


def _settings_rows(settings: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """Nested settings flattened to (name, value) rows (``train.steps``), lists joined by commas."""
    rows = []
    for key, value in settings.items():
        if isinstance(value, dict):
            rows += _settings_rows(value, f"{prefix}{key}.")
        else:
            rows.append((f"{prefix}{key}", ", ".join(map(str, value)) if isinstance(value, list) else str(value)))
    return rows


def _fallback_summary(folder: Path, kind: str) -> dict[str, Any]:
    """What a folder written before ``run.json`` existed still tells: the config and the versions."""
    import json

    if kind == "train":
        meta = json.loads((folder / "checkpoint.json").read_text())
        return {"title": f"noisereg train: {meta['config']['method']}", "settings": meta["config"], "data": []}
    if kind == "demo":
        res = json.loads((folder / "results.json").read_text())
        return {
            "title": "noisereg demo",
            "settings": res.get("config", {}),
            "data": [],
            "versions": res.get("versions", {}),
        }
    return {"title": f"noisereg experiment: {folder.name}", "settings": {}, "data": []}


def report_context(folder: str | Path) -> dict[str, Any]:
    """Everything the template shows for ``folder`` (a train, experiment or demo run)."""
    folder = Path(folder)
    summary = read_summary(folder)
    kind = kind_of(folder, summary)
    summary = summary or _fallback_summary(folder, kind)
    evaluations = read_evaluations(folder)
    results = {
        "demo": lambda: demo_results(folder),
        "experiment": lambda: experiment_results(folder),
        "train": lambda: train_results(folder, evaluations),
    }[kind]()
    return {
        "kind": kind,
        "title": summary["title"],
        "folder": str(folder.resolve()),
        "generated": time.strftime("%Y-%m-%d %H:%M"),
        "settings": _settings_rows(summary.get("settings", {})),
        "data": summary.get("data", []),
        "versions": summary.get("versions", {}),
        "results": results,
        "curves": curves_of(folder, kind, summary),
        "notes": summary.get("notes", []),
        "kept_by": kept_by(folder) if kind == "train" else [],
        "evaluations": [evaluation_view(folder, ev) for ev in evaluations],
        "suspects": suspects_of(folder, (summary.get("data") or [{}])[0].get("image_root")),
    }


def render(context: dict[str, Any]) -> str:
    """The HTML text (Jinja2, autoescaped)."""
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(
        loader=PackageLoader("noisereg.report", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["pct"] = lambda v, digits=1: "-" if v is None else f"{100 * float(v):.{digits}f}%"
    return env.get_template("report.html.j2").render(**context)


def write_report(folder: str | Path, out: str | Path | None = None) -> Path:
    """Render ``folder``'s report into ``out`` (default ``folder/report.html``); returns its path."""
    path = Path(out) if out is not None else Path(folder) / REPORT_FILE
    html = render(report_context(folder))
    return write_text(output_file(path, "report --out"), html)
    return path
