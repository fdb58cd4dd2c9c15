"""Find the wrong labels of a dataset with a trained checkpoint, in one pass and without cross-validation.

The clean net g learned the clean labels and the residual net where the noisy labels depart from them
(paper sec. 3.1), so one trained model scores every noisy label (``scores.py``); cleanlab instead needs
out-of-sample probabilities from K trainings. The default cut-off is chosen on the run's validation
images, which training never saw: where they carry both a noisy and a clean label, the cut-off that
best separates their wrong noisy labels from their right ones (the largest F1) is used. Without such
images no quality has a cut-off to trust (the posterior seldom falls below 0.5: h learned the noise it
explains), so the labels g contradicts with a margin are flagged (``scores.contradicted``).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ..data.labelset import LabelledSet, validation_rows
from ..data.table import LabelTable
from ..errors import UserError
from .outputs import h_on_clean, model_outputs, score_rows
from .result import LabelScores
from .scores import MARGIN

if TYPE_CHECKING:
    import pandas as pd

    from ..train import Classifier

MIN_PAIRS = 20  # validation images with both labels needed to choose the cut-off on them


def best_cutoff(quality: np.ndarray, wrong: np.ndarray) -> tuple[float, float]:
    """(cut-off, F1): flagging qualities <= the cut-off detects the ``wrong`` labels with the largest F1."""
    from sklearn.metrics import precision_recall_curve

    precision, recall, thresholds = precision_recall_curve(wrong.ravel(), -quality.ravel())
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.nan_to_num(2 * precision * recall / (precision + recall))[:-1]
    best = int(np.argmax(f1))
    return float(-thresholds[best]), float(f1[best])


def validation_cutoff(scores: LabelScores) -> LabelScores:
    """``scores`` (of validation images) with the cut-off chosen on those that have both labels and the
    ranking's AUROC there; unchanged (0.5, no AUROC) when fewer than ``MIN_PAIRS`` have, or their noisy labels
    are all right or all wrong."""
    from sklearn.metrics import roc_auc_score

    wrong = scores.true_wrong()
    known = scores.has_clean if scores.has_clean is not None else np.zeros(len(scores.rows), bool)
    if wrong is None or known.sum() < MIN_PAIRS or not wrong[known].any() or wrong[known].all():
        return scores
    cut, f1 = best_cutoff(scores.quality[known], wrong[known])
    n = int(known.sum())
    auroc = float(roc_auc_score(wrong[known].ravel(), -scores.quality[known].ravel()))
    return replace(
        scores,
        cutoff=cut,
        val_auroc=auroc,
        flags=None,
        rule="validation",
        how=f"chosen on validation, {cut:.3f}: best F1 ({f1:.2f}) on {n} validation images whose noisy "
        f"and clean labels are both known (ranking AUROC there {auroc:.3f})",
    )


def validation_set(table: LabelTable, train: LabelledSet, cfg: Any, classes: list[str]) -> LabelledSet | None:
    """The run's validation images: the manifest's val split when it has clean labels (``train`` used it),
    else the seeded share of the train split's clean set that ``fit`` held out (``validation_rows``)."""
    if "val" in table.splits():
        val = table.to_labelled_set("val", classes=classes)
        if val.has_clean.any():
            return val
    rows = validation_rows(train, cfg.val_fraction, cfg.seed)
    return train.subset(np.flatnonzero(rows)) if rows.any() else None


def score_set(
    model: Classifier,
    data: LabelledSet,
    pre: Any,
    *,
    device: torch.device,
    score: str = "auto",
    val: LabelledSet | None = None,
    cache_dir: str | None = None,
    manifest_rows: np.ndarray | None = None,
) -> LabelScores:
    """``LabelScores`` of every noisy label of ``data`` (T estimated on its clean images), with the cut-off
    chosen on ``val``'s images that have both labels (``validation_cutoff``), else the labels g contradicts
    by more than ``scores.MARGIN`` flagged (``LabelScores.with_contradictions``).

    Args:
        val: validation images the model did not train on (their noisy labels included).
        cache_dir: the frozen backbone's feature cache, reused when it holds ``data``'s features.
        manifest_rows: the manifest row of each row of ``data`` (default: its own index).
    """
    outputs = model_outputs(model, data, pre, device=device, cache_dir=cache_dir)
    h_clean = h_on_clean(outputs, data)
    single = data.is_single_label
    scores = score_rows(
        model,
        data,
        outputs,
        data.noisy_indices,
        score=score,
        h_clean=h_clean,
        single_label=single,
        manifest_rows=manifest_rows,
    )
    if val is None or not (val.has_noisy & val.has_clean).any():
        return scores.with_contradictions(MARGIN, why="no validation images with both a noisy and a clean label")
    paired = np.flatnonzero(val.has_noisy & val.has_clean)
    checked = validation_cutoff(
        score_rows(
            model,
            val,
            model_outputs(model, val, pre, device=device),
            paired,
            score=score,
            h_clean=h_clean,
            single_label=single,
        )
    )
    if checked.rule != "validation":
        return scores.with_contradictions(
            MARGIN,
            why=f"{len(paired)} validation images with both labels cannot "
            f"choose a cut-off (at least {MIN_PAIRS}, some right and some wrong)",
        )
    return replace(scores, cutoff=checked.cutoff, how=checked.how, val_auroc=checked.val_auroc, rule=checked.rule)


def label_scores(
    checkpoint: Any,
    manifest: Any,
    *,
    image_root: str | None = None,
    features: str | None = None,
    split: str = "train",
    score: str = "auto",
    threshold: float | None = None,
    top_k: int | None = None,
    device: str = "auto",
    allow_outside_root: bool = False,
) -> LabelScores:
    """Score every noisy label of a manifest split with a checkpoint; see ``find_label_issues``."""
    from ..config import TrainConfig
    from ..data.files import check_images
    from ..data.images import Preprocess
    from ..distributed import resolve_device
    from ..train import load_classifier

    model, meta = load_classifier(checkpoint) if isinstance(checkpoint, (str, Path)) else checkpoint
    classes, cfg = list(meta["classes"]), TrainConfig.from_dict(meta["config"])
    table = (
        manifest
        if isinstance(manifest, LabelTable)
        else _read(manifest, image_root, features, classes, allow_outside_root)
    )
    kept = np.arange(len(table))  # the manifest row of each row of ``table``
    if cfg.skip_unreadable:  # the rows the run trained on: without the images that do not decode
        from ..data.decode import readable_rows

        kept = np.flatnonzero(readable_rows(table, [s for s in (split, "val") if s in table.splits()]))
        table = table.select(kept)
    if split not in table.splits():
        raise UserError(f"{table.source}: no rows with split '{split}'")
    data = table.to_labelled_set(split, classes=classes)
    if not data.holds_arrays:
        check_images(data.images, what=table.source)
    data.require(clean=False, noisy=True, where=f"{table.source} split '{split}'")
    val = validation_set(table, data, cfg, classes) if top_k is None and threshold is None else None
    scores = score_set(
        model,
        data,
        Preprocess.from_dict(meta["preprocess"]),
        device=resolve_device(device),
        score=score,
        val=val,
        cache_dir=cfg.cache_dir,
        manifest_rows=kept[np.flatnonzero(table.split_mask(split))],
    )
    if top_k is not None:
        return scores.with_top_k(top_k)
    return scores if threshold is None else scores.with_threshold(threshold)


def _read(
    manifest: str | Path,
    image_root: str | None,
    features: str | None,
    classes: list[str],
    allow_outside_root: bool = False,
) -> LabelTable:
    """The manifest with the checkpoint's classes (a class outside them is a one-line error); its image files are
    checked where the split is read."""
    from ..data.sources import open_dataset

    if features:
        return open_dataset("features", features=features, manifest=manifest, classes=classes)
    return open_dataset(
        "csv",
        manifest=manifest,
        image_root=image_root,
        classes=classes,
        allow_outside_root=allow_outside_root,
        check_images=False,
    )


def find_label_issues(
    checkpoint: Any,
    manifest: Any,
    *,
    image_root: str | None = None,
    features: str | None = None,
    split: str = "train",
    score: str = "auto",
    threshold: float | None = None,
    top_k: int | None = None,
    level: str = "auto",
    device: str = "auto",
    allow_outside_root: bool = False,
) -> pd.DataFrame:
    """The suspect labels of a manifest split, worst first, as a DataFrame.

    Args:
        checkpoint: a folder written by ``noisereg train`` (or ``(model, meta)`` from ``load_classifier``).
        manifest: the manifest (CSV / JSONL) or a ``LabelTable``; its classes must be the checkpoint's.
        image_root / features: where the images are, or their precomputed features (one row per manifest row).
        allow_outside_root: accept manifest paths outside ``image_root`` (refused by default).
        split: the split whose noisy labels are checked.
        score: ``auto`` | ``posterior`` | ``g`` | ``residual`` | ``method`` (``scores.py``).
        threshold / top_k: flag labels with a quality <= ``threshold``, or the ``top_k`` worst; default:
            the cut-off chosen on the validation images, else the labels g contradicts with a margin
            (``df.attrs["cutoff_rule"]``: ``validation`` / ``contradiction``; ``cutoff_how`` says more).
        level: ``auto`` (per image for single-label, per (image, class) suspect for multi-label),
            ``image`` or ``entry``.

    Returns:
        One row per image (single-label) or suspect entry (multi-label), indexed by manifest row, with
        ``path``, ``given_label``, ``predicted_label`` (g's suggestion; never the given label of a flagged
        row), ``label_quality``, ``is_label_issue`` and the scores used; ``attrs`` holds ``cutoff``,
        ``cutoff_how``, ``cutoff_rule`` and ``score``.
    """
    return label_scores(
        checkpoint,
        manifest,
        image_root=image_root,
        features=features,
        split=split,
        score=score,
        threshold=threshold,
        top_k=top_k,
        device=device,
        allow_outside_root=allow_outside_root,
    ).issues(level)
