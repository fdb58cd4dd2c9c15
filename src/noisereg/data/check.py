"""``noisereg data check``: what a dataset holds and how noisy its noisy labels really are.

With ``decode`` (by default for sets of at most ``DECODE_BY_DEFAULT`` image files) every image is
decoded as training decodes it, and each one that does not decode is listed with its reason, all in
one run (``decode.find_unreadable``).

The noise rate is measured only where one image carries both a clean and a noisy label.
Single-label: the share of such images whose noisy class differs from the clean one (per class:
by clean class). Multi-label: *missing* = clean labels the noisy set lacks / clean labels, and
*spurious* = noisy labels the clean set lacks / noisy labels, counted over the classes a human
verified where the dataset says which (OpenImages); ``overall`` is the share of images whose two
label sets differ.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from .decode import find_unreadable
from .table import LabelTable

DECODE_BY_DEFAULT = 5000  # image files a `data check` decodes without --decode (a larger set only when asked)
SHOWN_UNREADABLE = 20  # unreadable files listed in the text report (--json lists every one)


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


def label_noise(clean: sp.spmatrix, noisy: sp.spmatrix, known: sp.spmatrix | None = None) -> dict[str, Any]:
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
    return {
        "overall": _ratio(row_diff.sum(), len(row_diff)),
        "images": int(len(row_diff)),
        "missing": _ratio(n_clean.sum() - n_both.sum(), n_clean.sum()),
        "spurious": _ratio(n_noisy.sum() - n_both.sum(), n_noisy.sum()),
        "clean_labels": n_clean,
        "noisy_labels": n_noisy,
        "both": n_both,
    }


def multi_label_noise(table: LabelTable, rows: np.ndarray) -> dict[str, Any]:
    """Missing and spurious label rates, overall and per class, on verified classes."""
    r = label_noise(table.clean[rows], table.noisy[rows], None if table.verified is None else table.verified[rows])
    n_clean, n_noisy, n_both = r.pop("clean_labels"), r.pop("noisy_labels"), r.pop("both")
    r["per_class"] = {
        name: {
            "missing": _ratio(n_clean[k] - n_both[k], n_clean[k]),
            "spurious": _ratio(n_noisy[k] - n_both[k], n_noisy[k]),
            "clean_labels": int(n_clean[k]),
            "noisy_labels": int(n_noisy[k]),
        }
        for k, name in enumerate(table.classes)
    }
    return r


def decode_images(table: LabelTable, decode: bool | None, *, quiet: bool = True) -> dict[str, Any]:
    """``decoded`` (how many image files were decoded, None when none were) and ``unreadable`` (each file
    that does not decode: ``path``, ``reason``). ``decode`` None decodes sets of at most
    ``DECODE_BY_DEFAULT`` files and says in ``note`` that a larger one was not; False decodes nothing."""
    if decode is False or table.paths is None:  # nothing asked, or no files (features, pixels in memory)
        note = {"note": "--decode: no image files to decode (the images are arrays)"} if decode else {}
        return {"decoded": None, "unreadable": [], **note}
    if decode is None and len(table) > DECODE_BY_DEFAULT:
        return {
            "decoded": None,
            "unreadable": [],
            "note": f"images not decoded ({len(table):,} files, more than "
            f"{DECODE_BY_DEFAULT:,}): --decode checks that every one decodes",
        }
    failures = find_unreadable(table.image_paths(), quiet=quiet)
    return {"decoded": len(table), "unreadable": [f._asdict() for f in failures]}


def summarize(table: LabelTable, *, decode: bool | None = False, quiet: bool = True) -> dict[str, Any]:
    """The ``data check`` summary as a JSON-ready dict (keys: images, classes, clean, noisy,
    label_cardinality, noise_rate, decoded, unreadable, plus class_names, multi_label, source); ``decode``
    as ``decode_images`` (False: no image is decoded)."""
    both = np.flatnonzero(table.has_clean & table.has_noisy)
    if not len(both):
        noise = None
    elif table.multi_label:
        noise = multi_label_noise(table, both)
    else:
        noise = single_label_noise(table, both)
    decoded = decode_images(table, decode, quiet=quiet)
    return {
        "source": table.source,
        "images": _per_split(table, np.ones(len(table), dtype=bool)),
        "classes": table.num_classes,
        "class_names": list(table.classes),
        "multi_label": table.multi_label,
        "clean": _per_split(table, table.has_clean),
        "noisy": _per_split(table, table.has_noisy),
        "label_cardinality": {
            "clean": _cardinality(table.clean, table.has_clean),
            "noisy": _cardinality(table.noisy, table.has_noisy),
        },
        "noise_rate": noise,
        "decoded": decoded["decoded"],
        "unreadable": decoded["unreadable"],
        "notes": list(table.notes) + ([decoded["note"]] if "note" in decoded else []),
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
    lines = [
        f"source       {s['source']}",
        f"images       {_counts(s['images'])}",
        f"classes      {s['classes']} ({'multi' if s['multi_label'] else 'single'}-label): {shown}",
        f"clean labels {_counts(s['clean'])}",
        f"noisy labels {_counts(s['noisy'])}",
        "cardinality  "
        + "  ".join(f"{k} {'n/a' if v is None else f'{v:.2f}'}" for k, v in card.items())
        + " labels per image",
    ]
    noise = s["noise_rate"]
    if noise is None:
        lines.append("noise rate   n/a (no image carries both a clean and a noisy label)")
    elif s["multi_label"]:
        lines.append(
            f"noise rate   {_pct(noise['overall'])} of {noise['images']:,} images with both labels "
            f"have a wrong label set; missing {_pct(noise['missing'])} of clean labels, "
            f"spurious {_pct(noise['spurious'])} of noisy labels"
        )
        rows = sorted(noise["per_class"].items(), key=lambda kv: -kv[1]["clean_labels"])[:max_classes]
        lines.append(f"  {'class':24s} {'clean':>7s} {'noisy':>7s} {'missing':>8s} {'spurious':>8s}")
        lines += [
            f"  {name[:24]:24s} {v['clean_labels']:7,d} {v['noisy_labels']:7,d} {_pct(v['missing']):>8s} "
            f"{_pct(v['spurious']):>8s}"
            for name, v in rows
        ]
    else:
        lines.append(f"noise rate   {_pct(noise['overall'])} of {noise['images']:,} images with both labels")
        rows = list(noise["per_class"].items())[:max_classes]
        lines += [f"  {name[:24]:24s} {v['images']:7,d} images  {_pct(v['rate']):>8s} noisy" for name, v in rows]
    lines += _decode_lines(s)
    lines += [f"note: {n}" for n in s.get("notes", [])]
    return "\n".join(lines)


def _decode_lines(s: dict[str, Any]) -> list[str]:
    """``decoded  N images: all decode``, or how many do not and each (at most ``SHOWN_UNREADABLE``)."""
    if s.get("decoded") is None:
        return []
    bad = s["unreadable"]
    lines = [f"decoded      {s['decoded']:,} images: " + (f"{len(bad):,} do not decode" if bad else "all decode")]
    lines += [f"  {u['path']}: {u['reason']}" for u in bad[:SHOWN_UNREADABLE]]
    if len(bad) > SHOWN_UNREADABLE:
        lines.append(f"  ... and {len(bad) - SHOWN_UNREADABLE:,} more (--json lists every one)")
    return lines


def unreadable_error(s: dict[str, Any]) -> str | None:
    """The one line ``data check`` ends with when images do not decode (None when all do)."""
    bad = s.get("unreadable") or []
    if not bad:
        return None
    return (
        f"{len(bad):,} of {s['decoded']:,} images do not decode (first: {bad[0]['path']}: {bad[0]['reason']}); "
        "fix or remove them, or train with --skip-unreadable"
    )
