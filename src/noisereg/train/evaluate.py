"""Scoring a trained model: logits of every output, and the paper's metrics on clean labels."""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..data.images import ImageFiles, Preprocess, iter_inputs
from ..data.labelset import LabelledSet
from ..distributed import current, gather_rows, shard
from ..errors import UserError
from ..metrics import evaluate_scores, f1_thresholds
from .model import Classifier


@torch.inference_mode()
def predict_logits(model: Classifier, images: Any, pre: Preprocess, *, device: torch.device,
                   batch_size: int = 256, num_workers: int = 0) -> dict[str, torch.Tensor]:
    """Logits of every output (``logits`` = the final classifier g's; ``h_logits`` when the method has h).

    Under torchrun each rank scores its block of rows, then the blocks are gathered.
    """
    model.eval().to(device)
    ctx = current()
    rows = shard(len(images), ctx)
    batches = [rows[i:i + batch_size] for i in range(0, len(rows), batch_size)]
    outs: dict[str, list[torch.Tensor]] = {}
    for x in iter_inputs(images, pre, batches, num_workers=num_workers):
        for key, value in model(x.to(device)).items():
            outs.setdefault(key, []).append(value.float().cpu())
    if not outs:
        raise UserError(f"{len(images)} images cannot be scored by {ctx.world_size} processes")
    return {key: gather_rows(torch.cat(v), ctx) for key, v in outs.items()}


@torch.inference_mode()
def predict_files(model: Classifier, paths: list[str], pre: Preprocess, *, device: torch.device,
                  batch_size: int = 64, num_workers: int = 0) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Logits of every output for image files, batch by batch, and each file's error ('' when it was
    read): a file that cannot be read gets NaN logits instead of stopping the others.

    Raises:
        UserError: no file at all could be read.
    """
    model.eval().to(device)
    loader = torch.utils.data.DataLoader(ImageFiles(paths, pre, report_errors=True), batch_size=batch_size,
                                         num_workers=num_workers)
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


def evaluate(model: Classifier, data: LabelledSet, pre: Preprocess, *, device: torch.device,
             images: Any = None, which: str = "logits") -> dict[str, float]:
    """mAP, AP_all and top-1 of classifier g (or h with ``which="h_logits"``) on the clean labels, and
    ``bce``, its binary cross-entropy there (a smooth companion for early stopping).

    Args:
        images: what the model reads for ``data``'s rows when not ``data.images`` (cached features).
    """
    data.require(clean=True, noisy=False, where="evaluation set")
    rows = data.clean_indices
    logits = predict_logits(model, data.images if images is None else images, pre, device=device)
    if which not in logits:
        raise UserError(f"this model has no output '{which}'")
    z, targets = logits[which][rows], data.clean_rows(rows)
    scores = evaluate_scores(torch.sigmoid(z).numpy(), targets)
    known = torch.from_numpy(data.known_rows(rows).astype(np.float32))
    bce = F.binary_cross_entropy_with_logits(z, torch.from_numpy(targets), reduction="none")
    scores["bce"] = float((bce * known).sum() / known.sum().clamp_min(1.0))
    return scores


def f1_thresholds_on(model: Classifier, data: LabelledSet, pre: Preprocess, *, device: torch.device,
                     images: Any = None) -> list[float]:
    """Per-class thresholds on g's probabilities that maximise F1 on ``data``'s clean labels (the
    validation set: never the test set), for multi-label predictions.

    Args:
        images: what the model reads for ``data``'s rows when not ``data.images`` (cached features).
    """
    rows = data.clean_indices
    logits = predict_logits(model, data.images if images is None else images, pre, device=device)["logits"][rows]
    g = model.method.probabilities(logits)
    return f1_thresholds(g.numpy(), data.clean_rows(rows), data.known_rows(rows)).tolist()
