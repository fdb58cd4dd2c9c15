"""What a report shows of a trained model on one clean-labelled set: its scores, per-class AP, the
confusion matrix (single-label), and the example images of the paper's Figs. 3 and 5.

``write_evaluation`` stores these as ``evaluation/<name>.json`` plus thumbnails, so the HTML report
is rendered later from files alone. Fig. 3 shows test images with their clean label, their noisy
label (where the set has one) and g's top predictions; Fig. 5 shows the images where g and h
disagree most, i.e. what the residual net absorbed (predictions normalised over classes, as there).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..data.images import Preprocess, load_image
from ..data.labelset import LabelledSet
from ..metrics import average_precision_per_class, evaluate_scores
from ..safe_io import write_json
from ..train.evaluate import predict_logits
from .figures import png_data_uri

EVALUATION_DIR = "evaluation"
THUMB_SIDE = 112


@dataclass
class Scores:
    """Probabilities of one model on every row of a set: g = sigmoid(c) and, for the paper's method,
    h = sigmoid(r + c), both (N, K)."""

    g: np.ndarray
    h: np.ndarray | None = None


def score_set(
    model: torch.nn.Module, data: LabelledSet, pre: Preprocess, *, device: torch.device, images: Any = None
) -> Scores:
    """g's (and h's, when the method has one) probabilities on every row of ``data``."""
    logits = predict_logits(model, data.images if images is None else images, pre, device=device)
    h = logits.get("h_logits")
    return Scores(torch.sigmoid(logits["logits"]).numpy(), None if h is None else torch.sigmoid(h).numpy())


def _names(row: np.ndarray, classes: list[str]) -> list[str]:
    return [classes[k] for k in np.flatnonzero(row > 0.5)]


def _top(p: np.ndarray, classes: list[str], k: int, normalise: bool = False) -> list[tuple[str, float]]:
    p = p / max(float(p.sum()), 1e-12) if normalise else p
    return [(classes[j], round(float(p[j]), 4)) for j in np.argsort(-p, kind="stable")[:k]]


def pick_fig3(
    g: np.ndarray, clean: np.ndarray, noisy: np.ndarray | None, n: int, seed: int = 0
) -> list[tuple[int, str]]:
    """(row, kind) of the Fig. 3 grid: g's most confident mistakes, images whose noisy label was wrong and
    g got right (when the set has noisy labels), then a seeded sample of the rest; ``n`` at most."""
    top = g.argmax(1)
    hit = clean[np.arange(len(g)), top] > 0.5
    wrong = np.flatnonzero(~hit)
    picked = [(int(i), "g wrong") for i in wrong[np.argsort(-g[wrong, top[wrong]], kind="stable")][: n // 2]]
    if noisy is not None:
        fixed = np.flatnonzero(hit & noisy.any(1) & (np.abs(noisy - clean).sum(1) > 0))
        picked += [(int(i), "noisy label corrected") for i in fixed[: n // 4]]
    rest = np.setdiff1d(np.arange(len(g)), [i for i, _ in picked])
    sample = np.random.default_rng(seed).permutation(rest)[: n - len(picked)]
    return picked + [(int(i), "g right" if hit[i] else "g wrong") for i in sample]


def pick_fig5(g: np.ndarray, h: np.ndarray, n: int) -> list[tuple[int, float]]:
    """(row, disagreement) of the ``n`` images where g and h, each normalised over the classes, differ
    most (total variation distance, in [0, 1])."""
    gn = g / np.clip(g.sum(1, keepdims=True), 1e-12, None)
    hn = h / np.clip(h.sum(1, keepdims=True), 1e-12, None)
    tv = 0.5 * np.abs(gn - hn).sum(1)
    return [(int(i), round(float(tv[i]), 4)) for i in np.argsort(-tv, kind="stable")[:n]]


def _shrunk(image: Any) -> Any:
    """``image`` (PIL) scaled so its longer side is ``THUMB_SIDE``; tiny scans (digits) stay crisp."""
    from PIL import Image

    scale = THUMB_SIDE / max(image.size)
    size = (max(1, round(image.size[0] * scale)), max(1, round(image.size[1] * scale)))
    small = max(image.size) < THUMB_SIDE / 2
    return image.resize(size, Image.Resampling.NEAREST if small else Image.Resampling.BICUBIC)


def thumbnail(data: LabelledSet, row: int, path: Path) -> str | None:
    """Save row ``row``'s image as a PNG thumbnail; its file name, or None for precomputed features
    (nothing to show)."""
    from PIL import Image

    if data.holds_features:
        return None
    if data.holds_arrays:
        x = torch.as_tensor(data.images[row]).float()
        arr = (x.clamp(0, 1) * 255).to(torch.uint8).permute(1, 2, 0).numpy()
        image = Image.fromarray(arr[..., 0] if arr.shape[2] == 1 else arr)
    else:
        image = load_image(data.images[row], 3)
    _shrunk(image).save(path)
    return path.name


def thumbnail_uri(path: Path) -> str:
    """An image file as a PNG thumbnail ``data:`` URI."""
    import io

    buf = io.BytesIO()
    _shrunk(load_image(path, 3)).save(buf, format="PNG")
    return png_data_uri(buf.getvalue())


def _example(
    data: LabelledSet,
    row: int,
    scores: Scores,
    folder: Path,
    normalise: bool,
    top: int = 3,
    others: dict[str, Scores] | None = None,
) -> dict[str, Any]:
    """One example card: the image, its labels, g's (and h's) ``top`` classes and, for the paper's Fig. 3
    comparison, each of ``others``' ``top`` classes on the same image."""
    classes = data.classes
    noisy = _names(data.noisy_rows(np.array([row]))[0], classes) if data.has_noisy[row] else None
    return {
        "id": data.ids[row],
        "image": thumbnail(data, row, folder / f"{row}.png"),
        "clean": _names(data.clean_rows(np.array([row]))[0], classes),
        "noisy": noisy,
        "g": _top(scores.g[row], classes, top, normalise),
        "h": _top(scores.h[row], classes, 3, normalise) if scores.h is not None else None,
        "others": {m: _top(s.g[row], classes, top, normalise) for m, s in (others or {}).items()},
    }


def confusion(g: np.ndarray, clean: np.ndarray) -> list[list[int]]:
    """(K, K) counts: row = clean class, column = g's top-1 class (single-label data)."""
    k = g.shape[1]
    m = np.zeros((k, k), dtype=np.int64)
    np.add.at(m, (clean.argmax(1), g.argmax(1)), 1)
    return m.tolist()


def write_evaluation(
    folder: str | Path,
    name: str,
    data: LabelledSet,
    scores: dict[str, Scores],
    *,
    featured: str,
    split: str,
    examples: int = 12,
    compare: Sequence[str] = (),
) -> Path:
    """``folder/evaluation/<name>.json`` (+ thumbnails in ``<name>/``): test scores and per-class AP of
    every method in ``scores``; the confusion matrix and the Fig. 3/5 examples of ``featured``.

    Args:
        data: the clean-labelled set the scores are on (rows without a clean label are left out).
        split: which split it is (``test``, ``val``), said in the report.
        compare: methods of ``scores`` whose top-5 the Fig. 3 cards show beside ``featured``'s, as the
            paper's Fig. 3 shows Noisy, FT-L and the method (without: ``featured``'s top-3 alone).
    """
    rows = data.clean_indices
    sub = data.subset(rows)
    clean = sub.clean_rows(np.arange(len(sub)))
    scores = {m: Scores(s.g[rows], None if s.h is None else s.h[rows]) for m, s in scores.items()}
    out = Path(folder) / EVALUATION_DIR
    thumbs = out / name
    thumbs.mkdir(parents=True, exist_ok=True)
    mine = scores[featured]
    others = {m: scores[m] for m in compare if m in scores and m != featured}
    noisy = sub.noisy_rows(np.arange(len(sub))) * sub.has_noisy[:, None] if sub.has_noisy.any() else None
    body = {
        "name": name,
        "split": split,
        "classes": sub.classes,
        "single_label": sub.is_single_label,
        "images": len(sub),
        "featured": featured,
        "scores": {
            m: {k: v for k, v in evaluate_scores(s.g, clean).items() if k != "classes_skipped"}
            for m, s in scores.items()
        },
        "positives": clean.sum(0).astype(int).tolist(),
        "per_class_ap": {
            m: [None if np.isnan(a) else round(float(a), 5) for a in average_precision_per_class(s.g, clean)]
            for m, s in scores.items()
        },
        "confusion": confusion(mine.g, clean) if sub.is_single_label else None,
        "fig3": [
            {**_example(sub, i, mine, thumbs, False, 5 if others else 3, others), "kind": kind}
            for i, kind in pick_fig3(mine.g, clean, noisy, examples)
        ],
        "fig5": [
            {**_example(sub, i, mine, thumbs, True), "disagreement": d} for i, d in pick_fig5(mine.g, mine.h, examples)
        ]
        if mine.h is not None
        else [],
    }
    path = out / f"{name}.json"
    write_json(path, body, indent=1)
    return path


def read_evaluations(folder: str | Path) -> list[dict[str, Any]]:
    """Every ``evaluation/*.json`` of a run folder, by name."""
    out = Path(folder) / EVALUATION_DIR
    return [json.loads(p.read_text()) for p in sorted(out.glob("*.json"))] if out.is_dir() else []
