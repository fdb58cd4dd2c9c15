"""Scoring a trained model: logits of every output, and the paper's metrics on clean labels.

Evaluation streams: each process scores its own block of the clean rows in batches, the labels of
a batch are densified on their own, and mAP / AP_all / top-1 come from ``StreamingMetrics`` (two
passes, exact), so no (N, K) array of scores or labels is ever built and nothing is gathered.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from functools import partial
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..data.images import ImageFiles, Preprocess, iter_inputs
from ..data.labelset import LabelledSet
from ..distributed import all_reduce_sum, current, gather_rows, shard
from ..errors import UserError
from ..features import extraction_batch
from ..metrics import MIN_POSITIVES, StreamingMetrics, f1_thresholds, tunable_classes
from .model import Classifier

REPLAY_BYTES = 1 << 28  # first-pass probabilities kept for the second pass up to this size; else recomputed


def _holds_features(images: Any) -> bool:
    """Whether ``images`` are precomputed features (N, D) rather than pixels or image files."""
    return isinstance(images, (np.ndarray, torch.Tensor)) and images.ndim == 2


@torch.inference_mode()
def iter_logits(
    model: Classifier,
    images: Any,
    pre: Preprocess,
    rows: np.ndarray,
    *,
    device: torch.device,
    batch_size: int | None = None,
    num_workers: int = 0,
) -> Iterator[tuple[np.ndarray, dict[str, torch.Tensor]]]:
    """(row indices, every output's float32 logits on the CPU) for ``rows`` of ``images``, batch by batch,
    in this process only. ``batch_size`` None: images go through the backbone in ``extraction_batch(device)``
    (a small batch on a CPU), precomputed features 256 rows at a time."""
    batch_size = batch_size or (256 if _holds_features(images) else extraction_batch(device))
    model.eval().to(device)
    batches = [rows[i : i + batch_size] for i in range(0, len(rows), batch_size)]
    for b, x in zip(batches, iter_inputs(images, pre, batches, num_workers=num_workers)):
        yield b, {key: value.float().cpu() for key, value in model(x.to(device)).items()}


def predict_logits(
    model: Classifier,
    images: Any,
    pre: Preprocess,
    *,
    device: torch.device,
    batch_size: int | None = None,
    num_workers: int = 0,
) -> dict[str, torch.Tensor]:
    """Logits of every output (``logits`` = the final classifier g's; ``h_logits`` when the method has h)
    for all images, in memory.

    Under torchrun each rank scores its block of rows, then every rank receives all blocks: for sets
    whose (N, K) logits fit in memory. ``evaluate`` does not use it.
    """
    ctx = current()
    outs: dict[str, list[torch.Tensor]] = {}
    for _, out in iter_logits(
        model, images, pre, shard(len(images), ctx), device=device, batch_size=batch_size, num_workers=num_workers
    ):
        for key, value in out.items():
            outs.setdefault(key, []).append(value)
    if not outs:
        raise UserError(f"{len(images)} images cannot be scored by {ctx.world_size} processes")
    return {key: gather_rows(torch.cat(v), ctx) for key, v in outs.items()}


@torch.inference_mode()
def predict_files(
    model: Classifier,
    paths: list[str],
    pre: Preprocess,
    *,
    device: torch.device,
    batch_size: int = 64,
    num_workers: int = 0,
) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Logits of every output for image files, batch by batch, and each file's error ('' when it was
    read): a file that cannot be read gets NaN logits instead of stopping the others.

    Raises:
        UserError: no file at all could be read.
    """
    model.eval().to(device)
    loader = torch.utils.data.DataLoader(
        ImageFiles(paths, pre, report_errors=True), batch_size=batch_size, num_workers=num_workers
    )
    parts: list[tuple[torch.Tensor, dict[str, torch.Tensor]]] = []
    errors: list[str] = []
    for x, errs in loader:
        ok = torch.as_tensor([not e for e in errs])
        out = model(x[ok].to(device)) if ok.any() else {}
        parts.append((ok, {key: value.float().cpu() for key, value in out.items()}))
        errors.extend(errs)
    shapes = next((out for _, out in parts if out), None)
    if shapes is None:
        raise UserError(f"none of the {len(paths)} images could be read; the first: {errors[0] if errors else '-'}")
    outs = {}
    for key, like in shapes.items():
        rows = torch.full((len(paths), like.shape[1]), float("nan"))
        rows[torch.cat([ok for ok, _ in parts])] = torch.cat([out[key] for _, out in parts if out])
        outs[key] = rows
    return outs, errors


def evaluate(
    model: Classifier,
    data: LabelledSet,
    pre: Preprocess,
    *,
    device: torch.device,
    images: Any = None,
    which: str = "logits",
    batch_size: int | None = None,
) -> dict[str, float]:
    """mAP, AP_all and top-1 of classifier g (or h with ``which="h_logits"``) on the clean labels, and
    ``bce``, its binary cross-entropy there (a smooth companion for early stopping).

    Every process of a torchrun job must call it: each scores its block of the clean rows, and the
    counts are summed across processes. The numbers equal ``evaluate_scores`` on the whole (N, K)
    array of probabilities, which is never built.

    Args:
        images: what the model reads for ``data``'s rows when not ``data.images`` (cached features).
    """
    data.require(clean=True, noisy=False, where="evaluation set")
    ctx = current()
    rows = data.clean_indices
    mine = shard(len(rows), ctx)  # positions in ``rows`` this process scores
    reduce = partial(all_reduce_sum, ctx=ctx)
    metrics = StreamingMetrics(data.clean[rows], reduce, dtype=np.float32)
    score = partial(
        _probabilities,
        model,
        data.images if images is None else images,
        pre,
        rows,
        mine,
        which=which,
        device=device,
        batch_size=batch_size,
    )
    kept: list[tuple[np.ndarray, np.ndarray]] = []
    keep = len(mine) * data.num_classes * 4 <= REPLAY_BYTES
    bce = np.zeros(2)  # sum of the BCE over known label entries, their count
    for pos, z, p in score():
        metrics.add_positives(pos, p)
        bce += _bce_sums(z, data, rows[pos])
        if keep:
            kept.append((pos, p))
    metrics.end_positives()
    for pos, p in kept if keep else ((pos, p) for pos, _, p in score()):
        metrics.add_counts(pos, p)
    scores = metrics.result()
    bce = reduce(bce)
    scores["bce"] = float(bce[0] / max(bce[1], 1.0))
    return scores


def _probabilities(
    model: Classifier,
    images: Any,
    pre: Preprocess,
    rows: np.ndarray,
    mine: np.ndarray,
    *,
    which: str,
    device: torch.device,
    batch_size: int | None,
) -> Iterable[tuple[np.ndarray, torch.Tensor, np.ndarray]]:
    """(positions in ``rows``, logits, float32 probabilities) of output ``which``, batch by batch."""
    start = 0
    for b, out in iter_logits(model, images, pre, rows[mine], device=device, batch_size=batch_size):
        if which not in out:
            raise UserError(f"this model has no output '{which}'")
        z = out[which]
        yield mine[start : start + len(b)], z, torch.sigmoid(z).numpy()
        start += len(b)


def _bce_sums(z: torch.Tensor, data: LabelledSet, rows: np.ndarray) -> np.ndarray:
    """(sum of BCE over the known clean-label entries of ``rows``, how many there are)."""
    known = torch.from_numpy(data.known_rows(rows).astype(np.float32))
    bce = F.binary_cross_entropy_with_logits(z, torch.from_numpy(data.clean_rows(rows)), reduction="none")
    return np.array([float((bce * known).sum()), float(known.sum())])


def f1_thresholds_on(
    model: Classifier, data: LabelledSet, pre: Preprocess, *, device: torch.device, images: Any = None
) -> tuple[list[float], list[str]]:
    """Per-class thresholds on g's probabilities that maximise F1 on ``data``'s clean labels (the
    validation set: never the test set), for multi-label predictions, and where each came from:
    ``"validation"``, or ``"default"`` (0.5) for a class with under ``MIN_POSITIVES`` positives there.

    Args:
        images: what the model reads for ``data``'s rows when not ``data.images`` (cached features).
    """
    rows = data.clean_indices
    logits = predict_logits(model, data.images if images is None else images, pre, device=device)["logits"][rows]
    g, targets, known = model.method.probabilities(logits), data.clean_rows(rows), data.known_rows(rows)
    tuned = tunable_classes(targets, known)
    return (f1_thresholds(g.numpy(), targets, known).tolist(), ["validation" if t else "default" for t in tuned])


def describe_thresholds(meta: dict[str, Any]) -> str:
    """One line saying which classes' thresholds were chosen on validation and which kept the default."""
    classes, source = meta["classes"], meta.get("thresholds_from") or ["validation"] * len(meta["classes"])
    chosen = [str(c) for c, s in zip(classes, source) if s == "validation"]
    default = [str(c) for c, s in zip(classes, source) if s != "validation"]
    line = f"multi-label thresholds on g: chosen on validation (F1) for {len(chosen)} of {len(classes)} classes"
    if default:
        line += (
            f"; the default 0.5 for {', '.join(default[:10])}{' ...' if len(default) > 10 else ''} "
            f"(under {MIN_POSITIVES} validation positives)"
        )
    return line + "; recorded in checkpoint.json"


def outputs_of(
    model: Classifier, images: Any, pre: Preprocess, rows: np.ndarray, device: torch.device
) -> dict[str, torch.Tensor]:
    """The model's outputs for some training rows (for a phase's set-up), in eval mode."""
    subset: Any
    if isinstance(images, (torch.Tensor, np.ndarray)):
        subset = images[torch.as_tensor(rows)] if isinstance(images, torch.Tensor) else np.asarray(images[rows])
    else:
        subset = [images[i] for i in rows]
    out = predict_logits(model, subset, pre, device=device)
    model.train()
    return out
