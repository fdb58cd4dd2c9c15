"""Read a run folder (train, experiment or demo) into what the HTML template shows.

Everything comes from files the run wrote: ``run.json``, ``metrics.csv`` / ``curves.csv``, the results
(``checkpoint.json``, ``results.csv``, ``results.json``), ``evaluation/*.json`` with its thumbnails, and
``label_issues.csv`` when a label-issue finder has written one. Images become ``data:`` URIs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import UserError
from ..train.log import METRICS_FILE
from .evidence import EVALUATION_DIR, thumbnail_uri
from .figures import confusion_figure, curves_figure, per_class_ap_figure, png_data_uri
from .summary import CURVES_FILE, read_summary
from .tables import METRIC_NAMES, best_in_columns, mean_std_over_seeds

SUSPECTS_FILE = "label_issues.csv"
SUSPECTS_SHOWN = 12


def kind_of(folder: Path, summary: dict[str, Any] | None) -> str:
    """train, experiment or demo: from ``run.json``, else from the files the folder holds."""
    if summary:
        return summary["kind"]
    for name, kind in (("results.json", "demo"), ("results.csv", "experiment"), ("checkpoint.json", "train")):
        if (folder / name).is_file():
            return kind
    raise UserError(
        f"{folder}: not a run folder of noisereg train, experiment or demo "
        "(no run.json, checkpoint.json, results.csv or results.json)"
    )


def _cell(value: float | None, std: float | None = None) -> dict[str, Any]:
    """A table cell in %: its text, and the number sorting uses."""
    if value is None:
        return {"text": "-", "sort": ""}
    text = f"{value:.2f}" + (f" ± {std:.2f}" if std is not None else "")
    return {"text": text, "sort": round(value, 4)}


def _bold_best(rows: list[list[dict[str, Any]]]) -> None:
    """Mark the highest value of every column as ``best``."""
    cells = [[(c["sort"],) if c["sort"] != "" else None for c in r] for r in rows]
    for j, i in enumerate(best_in_columns(cells)):
        if i is not None:
            rows[i][j]["best"] = True


def demo_results(folder: Path) -> dict[str, Any]:
    """methods x (task, metric) of the demo's ``results.json``, test scores in %."""
    tasks = json.loads((folder / "results.json").read_text())["tasks"]
    columns = [
        (t, m) for t, task in tasks.items() for m in (["top1"] if task["single_label"] else ["mAP", "AP_all", "top1"])
    ]
    methods = list(dict.fromkeys(m for task in tasks.values() for m in task["methods"]))
    rows = [
        [_cell(100 * tasks[t]["methods"][m][k] if m in tasks[t]["methods"] else None) for t, k in columns]
        for m in methods
    ]
    _bold_best(rows)
    return {
        "caption": "Test scores of g = sigmoid(c), in %; each method's weights chosen on the validation "
        "share of the clean set, the test set used once. Best per column in bold.",
        "head": ["method", *[f"{t} {METRIC_NAMES[k]}" for t, k in columns]],
        "rows": [{"label": [m], "cells": r} for m, r in zip(methods, rows)],
    }


def experiment_results(folder: Path) -> dict[str, Any]:
    """methods x clean fraction, mean ± std over seeds, from ``results.csv``."""
    frame = pd.read_csv(folder / "results.csv")
    rows = frame.to_dict("records")
    fractions = sorted(frame["clean_fraction"].unique().tolist())
    single = bool(frame["mAP"].isna().all()) or _single_label(folder)
    metrics = ["top1"] if single else ["mAP", "AP_all", "top1"]
    keys, columns, cells = mean_std_over_seeds(rows, fractions, metrics)
    table = [[_cell(*c) if c else _cell(None) for c in line] for line in cells]
    _bold_best(table)
    seeds = frame.groupby(["method", "activation", "clean_fraction"]).size().max()
    return {
        "caption": f"Test scores in %, mean ± sample std over {seeds} seed(s); columns are metric @ clean "
        "fraction. Best mean per column in bold.",
        "head": ["method", "activation", *columns],
        "rows": [{"label": list(k), "cells": r} for k, r in zip(keys, table)],
    }


def _single_label(folder: Path) -> bool:
    data = (read_summary(folder) or {}).get("data") or [{}]
    return bool(data[0].get("single_label", False))


def train_results(folder: Path, evaluations: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The kept weights' scores on the evaluated set (else the best validation score), and the step
    they come from."""
    meta = json.loads((folder / "checkpoint.json").read_text())
    sel = meta.get("selection") or {}
    head, cells = ["method"], []
    for ev in evaluations:
        for k in ("mAP", "AP_all", "top1"):
            head.append(f"{ev['split']} {METRIC_NAMES[k]}")
            cells.append(_cell(100 * ev["scores"][ev["featured"]][k]))
    if not evaluations and sel.get("best") is not None:
        head.append(f"val {METRIC_NAMES.get(sel['metric'], sel['metric'])} (best)")
        cells.append(_cell(100 * sel["best"]))
    if not cells:
        return None
    steps = [r["step"] for r in meta.get("history", []) if r.get("stage") == meta.get("stage")]
    head += ["step kept", "steps run"]
    cells += [
        {"text": str(sel.get("best_step") or meta["step"]), "sort": sel.get("best_step") or meta["step"]},
        {"text": str(max(steps, default=meta["step"])), "sort": max(steps, default=meta["step"])},
    ]
    return {
        "caption": "Scores of g = sigmoid(c) with the weights kept (the best on validation), in %; a train "
        "run never reads the test split (noisereg evaluate scores it).",
        "head": head,
        "rows": [{"label": [meta["config"]["method"]], "cells": cells}],
    }


def kept_by(folder: Path) -> list[str]:
    """For a train run, per stage, which rule chose the kept weights and their step (``metrics.csv``'s
    ``kept_by`` and ``kept_step``), e.g. ``end-to-end: the lowest val loss, step 30``; empty without them."""
    path = folder / METRICS_FILE
    frame = pd.read_csv(path) if path.is_file() else pd.DataFrame()
    if not {"kept_by", "kept_step", "stage"} <= set(frame.columns):
        return []
    rules = {"val loss": "the lowest val loss", "last": "the last step"}
    out = []
    for stage, part in frame.dropna(subset=["kept_by"]).groupby("stage", sort=False):
        rule, step = str(part["kept_by"].iloc[-1]), int(part["kept_step"].iloc[-1])
        out.append(f"{stage}: {rules.get(rule, 'the best ' + rule)}, step {step:,}")
    return out


def curves_of(folder: Path, kind: str, summary: dict[str, Any]) -> str | None:
    """The training-curves figure: ``metrics.csv`` of a train run (one panel per stage), ``curves.csv``
    of an experiment or the demo (one panel per task or clean fraction)."""
    if kind == "train":  # metrics.csv, or the checkpoint's history for a run written before it existed
        metrics = folder / METRICS_FILE
        frame = (
            pd.read_csv(metrics)
            if metrics.is_file()
            else pd.DataFrame(json.loads((folder / "checkpoint.json").read_text()).get("history", []))
        )
        if frame.empty:
            return None
        frame["panel"], frame["method"] = frame["stage"], summary.get("settings", {}).get("method", "run")
    elif (folder / CURVES_FILE).is_file():
        frame = pd.read_csv(folder / CURVES_FILE)
    else:
        return None
    metric = summary.get("metric") or summary.get("settings", {}).get("val_metric", "top1")
    metric_of = {
        p: (summary.get("metric_of") or {}).get(p, metric if metric != "auto" else "top1")
        for p in frame["panel"].unique()
    }
    return curves_figure(frame, metric_of, x="x" if "x" in frame else "step")


def evaluation_view(folder: Path, ev: dict[str, Any]) -> dict[str, Any]:
    """One evaluated set: its figures, the sortable per-class AP table and the example grids."""
    classes, ap = ev["classes"], ev["per_class_ap"]
    methods = list(ap)
    rows = [
        {
            "label": [c, ev["positives"][k]],
            "cells": [_cell(None if ap[m][k] is None else 100 * ap[m][k]) for m in methods],
        }
        for k, c in enumerate(classes)
    ]
    thumbs = folder / EVALUATION_DIR / ev["name"]
    examples = {
        key: [
            {**x, "uri": png_data_uri((thumbs / x["image"]).read_bytes()) if x.get("image") else None} for x in ev[key]
        ]
        for key in ("fig3", "fig5")
    }
    return {
        **ev,
        **examples,
        "ap_figure": per_class_ap_figure(classes, ap, ev["featured"]),
        "ap_table": {"head": ["class", "positives", *[f"AP {m}" for m in methods]], "rows": rows},
        "confusion_figure": confusion_figure(classes, ev["confusion"]) if ev.get("confusion") else None,
    }


def suspects_of(folder: Path, image_root: str | None) -> dict[str, Any] | None:
    """The worst rows of ``label_issues.csv`` (a label-issue finder's output), when the folder has one."""
    path = folder / SUSPECTS_FILE
    if not path.is_file():
        return None
    frame = pd.read_csv(path)
    if "is_label_issue" in frame:
        frame = frame[frame["is_label_issue"].astype(str).str.lower().isin(("true", "1"))]
    if "label_quality" in frame:
        frame = frame.sort_values("label_quality", kind="stable")
    suggested = next((c for c in ("suggested_label", "predicted_label") if c in frame), None)
    rows = []
    for r in frame.head(SUSPECTS_SHOWN).to_dict("records"):
        rows.append(
            {
                "path": str(r.get("path", "")),
                "given": _text(r.get("given_label")),
                "suggested": _text(r.get(suggested)) if suggested else "",
                "kind": _text(r.get("kind")),
                "quality": r.get("label_quality"),
                "uri": _image_uri(r.get("path"), folder, image_root),
            }
        )
    return {"total": int(len(frame)), "rows": rows}


def _text(value: Any) -> str:
    """A label cell as shown: empty for a missing one (pandas reads an empty cell as NaN, shown as "nan")."""
    return "" if value is None or (isinstance(value, float) and value != value) else str(value)


def _image_uri(path: Any, folder: Path, image_root: str | None) -> str | None:
    """A suspect's image as a PNG thumbnail URI, found as given, under the image root or the run folder."""
    if not isinstance(path, str) or not path:
        return None
    for base in (Path(), Path(image_root) if image_root else None, folder):
        if base is not None and (base / path).is_file():
            return thumbnail_uri(base / path)
    return None
