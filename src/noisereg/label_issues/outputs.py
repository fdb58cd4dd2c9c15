"""What one trained model says about the rows of a ``LabelledSet``: its outputs, and the ``LabelScores`` made of them.

``model_outputs`` runs the checkpoint (the heads alone on precomputed or cached features, else the whole
model on the images); ``score_rows`` turns the outputs of chosen rows into label qualities (``scores.py``)
with g's suggested labels; ``h_on_clean`` gives the clean images' h, which estimates the noise transition T.
``finder.py`` calls them on a manifest split and its validation images.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ..data.labelset import LabelledSet
from ..errors import UserError
from .result import LabelScores
from .scores import entry_scores, g_probs, resolve_score

if TYPE_CHECKING:
    from ..train import Classifier


def model_outputs(
    model: Classifier, data: LabelledSet, pre: Any, *, device: torch.device, cache_dir: str | None = None
) -> dict[str, torch.Tensor]:
    """The model's outputs (``logits``, ``h_logits``, ...) for every row of ``data``: the heads alone on
    precomputed features (which must have the backbone's size), the whole model on images, or the heads
    on the frozen backbone's cached features when ``cache_dir`` holds them."""
    from torch import nn

    from ..features import cached_features
    from ..train import Classifier, predict_logits

    backbone = model.backbone
    if data.holds_features:
        if data.images.shape[1] != backbone.feature_dim:
            raise UserError(
                f"the features have {data.images.shape[1]} dimensions, the checkpoint's "
                f"{backbone.name} backbone gives {backbone.feature_dim}"
            )
        return predict_logits(Classifier(nn.Identity(), model.method), data.images, pre, device=device)
    if backbone.name == "features":
        raise UserError("this checkpoint was trained on precomputed features: pass them with --features")
    if cache_dir and Path(cache_dir).is_dir():
        feats = cached_features(backbone, data, device=device, cache_dir=cache_dir)
        return predict_logits(Classifier(nn.Identity(), model.method), feats, pre, device=device)
    return predict_logits(model, data.images, pre, device=device)


def _suggestion(logits: np.ndarray, single_label: bool) -> np.ndarray:
    """g's suggested labels (N, K): its top class, or every class with g >= 0.5."""
    if single_label:
        return np.eye(logits.shape[1], dtype=np.float32)[logits.argmax(1)]
    return (logits >= 0).astype(np.float32)


def score_rows(
    model: Classifier,
    data: LabelledSet,
    outputs: dict[str, torch.Tensor],
    rows: np.ndarray,
    *,
    score: str,
    h_clean: tuple[np.ndarray, np.ndarray] | None,
    single_label: bool,
    manifest_rows: np.ndarray | None = None,
) -> LabelScores:
    """``LabelScores`` of ``rows`` of ``data`` (images with a noisy label) from the model's outputs."""
    given = data.noisy_rows(rows)
    picked = {k: v[torch.as_tensor(rows)] for k, v in outputs.items()}
    trust = model.method.label_trust(picked, torch.from_numpy(given))
    logits = picked["logits"].numpy()
    h = picked["h_logits"].numpy() if "h_logits" in picked else None
    scores = entry_scores(
        logits,
        given,
        single_label=single_label,
        h_logits=h,
        h_clean=h_clean,
        trust=None if trust is None else trust.numpy(),
    )
    return LabelScores(
        classes=list(data.classes),
        rows=rows if manifest_rows is None else manifest_rows[rows],
        ids=[data.ids[i] for i in rows],
        given=given,
        predicted=_suggestion(logits, single_label),
        scores=scores,
        score=resolve_score(score, scores),
        single_label=single_label,
        clean=data.clean_rows(rows),
        has_clean=data.has_clean[rows],
        probs=g_probs(logits, single_label),
    )


def h_on_clean(outputs: dict[str, torch.Tensor], data: LabelledSet) -> tuple[np.ndarray, np.ndarray] | None:
    """(h's logits, clean labels) of the clean images, which estimate the noise transition T."""
    rows = data.clean_indices
    if "h_logits" not in outputs or not len(rows):
        return None
    return outputs["h_logits"][torch.as_tensor(rows)].numpy(), data.clean_rows(rows)
