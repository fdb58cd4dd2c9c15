"""``noisereg data check``: what a dataset holds and how noisy its noisy labels really are.

The noise rate is measured only where one image carries both a clean and a noisy label.
Single-label: the share of such images whose noisy class differs from the clean one (per class:
by clean class). Multi-label: *missing* = clean labels the noisy set lacks / clean labels, and
*spurious* = noisy labels the clean set lacks / noisy labels, counted over the classes a human
verified where the dataset says which (OpenImages); ``overall`` is the share of images whose two
label sets differ.
"""
from __future__ import annotations

from typing import Any, Optional

import numpy as np
import scipy.sparse as sp

from .table import LabelTable


def _per_split(table: LabelTable, mask: np.ndarray) -> dict[str, int]:
    out = {s: int((mask & table.split_mask(s)).sum()) for s in table.splits()}
    out["total"] = int(mask.sum())
    return out


def _cardinality(m: sp.csr_matrix, has: np.ndarray) -> float | None:
    return round(float(np.diff(m.indptr)[has].mean()), 4) if has.any() else None


def _ratio(num: float, den: float) -> float | None:
    return round(float(num) / float(den), 6) if den else None


def single_label_noise(table: LabelTable, rows: np.ndarray) -> dict[str, Any]:
    """Share of images whose noisy class differs from the clean class, overall and by clean class."""
    clean = table.clean[rows]
    noisy = table.noisy[rows]
    ok = (np.diff(clean.indptr) == 1) & (np.diff(noisy.indptr) == 1)
    truth, given = clean.indices[clean.indptr[:-1][ok]], noisy.indices[noisy.indptr[:-1][ok]]
    wrong = truth != given
    per_class = {}
    for k, name in enumerate(table.classes):
        of_k = truth == k
        per_class[name] = {"rate": _ratio(wrong[of_k].sum(), of_k.sum()), "images": int(of_k.sum())}
    return {"overall": _ratio(wrong.sum(), len(wrong)), "images": int(len(wrong)), "per_class": per_class}


def label_noise(clean: sp.spmatrix, noisy: sp.spmatrix, known: Optional[sp.spmatrix] = None) -> dict[str, Any]:
    """Missing / spurious rates between paired multi-hot label matrices (N, K), dense or sparse.

    Returns overall rates and per-class counts: ``overall`` (share of images whose label sets
    differ), ``missing``, ``spurious``, and arrays ``clean_labels``, ``noisy_labels``, ``both``.
    Entries outside ``known`` (verified classes) are left out of every count.
    """
    clean = sp.csr_matrix(clean).astype(bool).astype(np.int32)
    noisy = sp.csr_matrix(noisy).astype(bool).astype(np.int32)
    if known is not None:
        known = sp.csr_matrix(known).astype(bool).astype(np.int32)
        clean, noisy = clean.multiply(known).tocsr(), noisy.multiply(known).tocsr()
    col = lambda m: np.asarray(m.sum(axis=0)).ravel()  # noqa: E731
    n_clean, n_noisy, n_both = col(clean), col(noisy), col(clean.multiply(noisy))
    row_diff = np.asarray((clean != noisy).sum(axis=1)).ravel() > 0
    return {"overall": _ratio(row_diff.sum(), len(row_diff)), "images": int(len(row_diff)),
            "missing": _ratio(n_clean.sum() - n_both.sum(), n_clean.sum()),
            "spurious": _ratio(n_noisy.sum() - n_both.sum(), n_noisy.sum()),
            "clean_labels": n_clean, "noisy_labels": n_noisy, "both": n_both}


def multi_label_noise(table: LabelTable, rows: np.ndarray) -> dict[str, Any]:
    """Missing and spurious label rates, overall and per class, on verified classes."""
    r = label_noise(table.clean[rows], table.noisy[rows], None if table.verified is None else table.verified[rows])
    n_clean, n_noisy, n_both = r.pop("clean_labels"), r.pop("noisy_labels"), r.pop("both")
    r["per_class"] = {name: {"missing": _ratio(n_clean[k] - n_both[k], n_clean[k]),
                             "spurious": _ratio(n_noisy[k] - n_both[k], n_noisy[k]),
                             "clean_labels": int(n_clean[k]), "noisy_labels": int(n_noisy[k])}
                      for k, name in enumerate(table.classes)}
    return r


def summarize(table: LabelTable) -> dict[str, Any]:
    """The ``data check`` summary as a JSON-ready dict (keys: images, classes, clean, noisy,
    label_cardinality, noise_rate, plus class_names, multi_label, source)."""
    both = np.flatnonzero(table.has_clean & table.has_noisy)
    if not len(both):
        noise = None
    elif table.multi_label:
        noise = multi_label_noise(table, both)
    else:
        noise = single_label_noise(table, both)
    return {
        "source": table.source,
        "images": _per_split(table, np.ones(len(table), dtype=bool)),
        "classes": table.num_classes,
        "class_names": list(table.classes),
        "multi_label": table.multi_label,
        "clean": _per_split(table, table.has_clean),
        "noisy": _per_split(table, table.has_noisy),
        "label_cardinality": {"clean": _cardinality(table.clean, table.has_clean),
                              "noisy": _cardinality(table.noisy, table.has_noisy)},
        "noise_rate": noise,
        "notes": list(table.notes),
    }


def _counts(d: dict[str, int]) -> str:
    return "  ".join(f"{k} {v:,}" for k, v in d.items())


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.2f}%"


def format_summary(s: dict[str, Any], *, max_classes: int = 80) -> str:
    """The summary as the plain-text report ``noisereg data check`` prints."""
    names = s["class_names"]
    shown = ", ".join(names[:8]) + (f", ... ({len(names)} in all)" if len(names) > 8 else "")
    card = s["label_cardinality"]
    lines = [f"source       {s['source']}",
             f"images       {_counts(s['images'])}",
             f"classes      {s['classes']} ({'multi' if s['multi_label'] else 'single'}-label): {shown}",
             f"clean labels {_counts(s['clean'])}",
             f"noisy labels {_counts(s['noisy'])}",
             "cardinality  " + "  ".join(f"{k} {'n/a' if v is None else f'{v:.2f}'}" for k, v in card.items())
             + " labels per image"]
    noise = s["noise_rate"]
    if noise is None:
        lines.append("noise rate   n/a (no image carries both a clean and a noisy label)")
    elif s["multi_label"]:
        lines.append(f"noise rate   {_pct(noise['overall'])} of {noise['images']:,} images with both labels "
                     f"have a wrong label set; missing {_pct(noise['missing'])} of clean labels, "
                     f"spurious {_pct(noise['spurious'])} of noisy labels")
        rows = sorted(noise["per_class"].items(), key=lambda kv: -kv[1]["clean_labels"])[:max_classes]
        lines.append(f"  {'class':24s} {'clean':>7s} {'noisy':>7s} {'missing':>8s} {'spurious':>8s}")
        lines += [f"  {name[:24]:24s} {v['clean_labels']:7,d} {v['noisy_labels']:7,d} {_pct(v['missing']):>8s} "
                  f"{_pct(v['spurious']):>8s}" for name, v in rows]
    else:
        lines.append(f"noise rate   {_pct(noise['overall'])} of {noise['images']:,} images with both labels")
        rows = list(noise["per_class"].items())[:max_classes]
        lines += [f"  {name[:24]:24s} {v['images']:7,d} images  {_pct(v['rate']):>8s} noisy" for name, v in rows]
    lines += [f"note: {n}" for n in s.get("notes", [])]
    return "\n".join(lines)
