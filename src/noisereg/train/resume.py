"""What a run's output folder allows: a fresh run, ``--overwrite``, or ``--resume`` of the same run.

A fresh run refuses a folder that already holds a checkpoint (``--resume`` continues it,
``--overwrite`` replaces it). ``--resume`` continues from the newest complete checkpoint set (a torn
or corrupted newer one is skipped, saying why), and only when the data, the class list and every
option that changes the result are the ones the checkpoint recorded; options that change only how the
run is carried out (device, workers, printing, ...) may differ and are recorded as overrides. The other
way round, ``run_owner`` names the run folder a file belongs to: predict, export and find-label-issues
never write over one.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from ..checkpoint import (
    LAST_FILE,
    META_FILE,
    MODEL_FILE,
    OPTIMIZER_FILE,
    SETS_DIR,
    clean_orphans,
    has_checkpoint,
    latest_complete,
    load_optimizer_state,
    load_weights,
    read_meta,
)
from ..config import TrainConfig
from ..data.labelset import LabelledSet, RowIds
from ..distributed import current
from ..errors import UserError
from ..progress import echo
from ..safe_io import LOCK_FILE
from .model import load_classifier

# options --resume may change, recorded as overrides: how the run is carried out, and how long it runs
OVERRIDABLE = (
    "quiet",
    "device",
    "num_workers",
    "cache_dir",
    "tensorboard",
    "save_every",
    "compile",
    "steps",
    "epochs",
    "backbone_steps",
    "patience",
)


def data_fingerprint(data: LabelledSet) -> dict[str, Any]:
    """Rows, classes and a SHA-256 over the sample ids and both label sets of the training data, so that
    ``--resume`` can tell another manifest (or the same one edited) from the one the run started on."""
    digest = hashlib.sha256()
    if isinstance(data.ids, RowIds):  # arrays: the ids are the row numbers
        digest.update(f"rows {len(data)}\n".encode())
    else:
        digest.update("\n".join(map(str, data.ids)).encode())
    labels: tuple[Any, ...] = (data.noisy, data.clean, data.has_noisy, data.has_clean)  # dense or CSR
    for arr in labels:
        parts = (arr.indptr, arr.indices, arr.data) if sp.issparse(arr) else (arr,)
        for part in parts:
            digest.update(np.ascontiguousarray(part).tobytes())
    return {"rows": len(data), "classes": len(data.classes), "sha256": digest.hexdigest()}


def prepare_output(out: Path, *, overwrite: bool) -> None:
    """A fresh run's folder: refused when it holds a checkpoint unless ``overwrite``. The old checkpoint
    stays until the new run's first save replaces it (a run that diverges or dies first leaves it as it
    was); leftovers of an interrupted save are removed."""
    if has_checkpoint(out) and not overwrite:
        raise UserError(
            f"{out} already holds a checkpoint; --resume continues that run, --overwrite replaces "
            "it, or choose another --out"
        )
    clean_orphans(out)


def saved_config(out: str | Path) -> dict[str, Any]:
    """The config recorded by the newest complete checkpoint in ``out`` (what ``--resume`` starts from)."""
    if not has_checkpoint(out):
        raise UserError(f"--resume: no checkpoint to resume in {out}")
    folder, _ = latest_complete(out)
    return read_meta(folder, verify=False)["config"]


def resume_state(out: str | Path | None, cfg: TrainConfig, train: LabelledSet) -> dict[str, Any]:
    """Model, optimizer state, stage and step of the newest complete checkpoint in ``out``.

    Raises:
        UserError: no complete checkpoint; other data, classes or result-changing options.
    """
    if out is None:
        raise UserError("--resume needs --out pointing at the run's folder")
    if not has_checkpoint(out):
        raise UserError(f"--resume: no checkpoint to resume in {out}")
    folder, skipped = latest_complete(out)
    for problem in skipped:
        echo(f"--resume: skipped a checkpoint set: {problem}")
    model, meta = load_classifier(folder)
    _check_same_run(meta, cfg, train, out)
    best = {k: v.clone() for k, v in model.state_dict().items()}
    if LAST_FILE in meta.get("files", {}) or (Path(folder) / LAST_FILE).is_file():
        model.load_state_dict(load_weights(folder, LAST_FILE))
    if current().is_main:  # one process tidies the folder
        clean_orphans(out)
    overrides = {k: getattr(cfg, k) for k in OVERRIDABLE if meta["config"].get(k) != getattr(cfg, k)}
    return {
        "model": model,
        "meta": meta,
        "stage": meta["stage"],
        "step": int(meta["step"]),
        "best": best,
        "selection": meta.get("selection"),
        "optimizer": load_optimizer_state(folder, meta),
        "overrides": {**meta.get("overrides", {}), **overrides},
    }


def _check_same_run(meta: dict[str, Any], cfg: TrainConfig, train: LabelledSet, out: str | Path) -> None:
    """Refuse to continue a checkpoint with other classes, other data or other result-changing options."""
    if list(meta["classes"]) != list(train.classes):
        raise UserError(
            f"--resume: the class list differs from the checkpoint in {out} ({len(meta['classes'])} "
            f"classes {meta['classes'][:3]}... vs {len(train.classes)} {train.classes[:3]}...); "
            "use a new --out"
        )
    old_data = meta.get("data")
    new_data = data_fingerprint(train)
    if old_data is not None and old_data != new_data:
        what = (
            f"{old_data['rows']} training rows then, {new_data['rows']} now"
            if old_data["rows"] != new_data["rows"]
            else "the same number of rows but other images or labels"
        )
        raise UserError(f"--resume: the training data differs from the checkpoint in {out} ({what}); use a new --out")
    old = TrainConfig.from_dict(meta["config"]).to_dict()
    new = cfg.to_dict()
    changed = [k for k in new if k not in OVERRIDABLE and old.get(k) != new[k]]
    if changed:
        k = changed[0]
        raise UserError(
            f"--resume: option {k} is {new[k]!r}, the checkpoint in {out} was trained with "
            f"{old.get(k)!r} ({len(changed)} option(s) differ: {changed}); resume with the same options "
            "or use a new --out"
        )


# the files a train run keeps in its folder (the checkpoint's, and those the trainer and its report write beside them):
# predict / export / find-label-issues never write over one of these, --overwrite or not
RUN_FILES = (
    MODEL_FILE,
    LAST_FILE,
    OPTIMIZER_FILE,
    META_FILE,
    "config.yaml",
    "metrics.csv",
    "run.json",
    "report.html",
    "curves.csv",
    "tune.csv",
    LOCK_FILE,
)
RUN_DIRS = (SETS_DIR, "tensorboard", "evaluation")


def run_owner(path: str | Path) -> Path | None:
    """The run folder that owns the file ``path`` (one of its ``RUN_FILES``, or a file under its
    checkpoint sets, TensorBoard or evaluation folders), or None."""
    path = Path(path).absolute()
    if path.name in RUN_FILES and has_checkpoint(path.parent):
        return path.parent
    for folder in path.parents:
        if folder.name in RUN_DIRS and has_checkpoint(folder.parent):
            return folder.parent
    return None
