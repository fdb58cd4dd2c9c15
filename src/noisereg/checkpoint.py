"""Checkpoints: atomic, checksummed sets of safetensors weights + a JSON record (config, classes,
preprocessing, stage, step, the SHA-256 of every file).

A save writes every file of one step into a fresh staging folder, records their SHA-256 in its
``checkpoint.json``, and makes the set complete by one rename into ``checkpoints/<seq>/``. The set is
then published at the top of the run's folder (``model.safetensors``, ``checkpoint.json``, ... as
hard links, the JSON last) for every reader, and older sets beyond the newest two are removed with
any leftover temporary files. A crash at any point leaves either the previous or the new set
complete; a torn or corrupted set (checksum mismatch) is refused on load, and ``--resume`` takes the
newest set that verifies. Non-finite weights are never written. Loading reads no pickle.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load, save

from .errors import TrainingDiverged, UserError
from .safe_io import TMP_SUFFIX, atomic_write, child_dir, fsync_dir, output_dir, sha256_file, write_text

MODEL_FILE = "model.safetensors"
OPTIMIZER_FILE = "optimizer.safetensors"
LAST_FILE = "last.safetensors"  # the weights of the last step, when the model file holds the best ones
META_FILE = "checkpoint.json"
SETS_DIR = "checkpoints"
KEEP_SETS = 2  # the newest complete sets kept: the current one and one to fall back to
FORMAT = 2
REQUIRED = {"config": dict, "classes": list, "preprocess": dict, "stage": str, "step": int, "files": dict}
_SET_NAME = re.compile(r"^\d{6,}$")


def _flatten_optimizer(state: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Split an optimizer state dict into tensors (for safetensors) and the JSON-able rest."""
    tensors, scalars = {}, {}
    for pid, entry in state["state"].items():
        for key, value in entry.items():
            if torch.is_tensor(value):
                tensors[f"{pid}.{key}"] = value.detach().cpu().contiguous()
            else:
                scalars[f"{pid}.{key}"] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def _unflatten_optimizer(tensors: dict[str, torch.Tensor], rest: dict[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    for flat, value in list(tensors.items()) + list(rest["scalars"].items()):
        pid, key = flat.split(".", 1)
        state.setdefault(int(pid), {})[key] = value
    return {"state": state, "param_groups": rest["param_groups"]}


def _tensors(weights: torch.nn.Module | dict[str, torch.Tensor], out: Path) -> dict[str, torch.Tensor]:
    """CPU, contiguous copies of a module's (or dict's) tensors; refuses non-finite weights."""
    state = weights.state_dict() if isinstance(weights, torch.nn.Module) else weights
    tensors = {k: v.detach().cpu().contiguous() for k, v in state.items()}
    bad = [k for k, v in tensors.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise TrainingDiverged(f"weights {bad[:3]} are not finite; the checkpoint in {out} was left as it was")
    return tensors


def save_checkpoint(
    out_dir: str | Path,
    model: torch.nn.Module | dict[str, torch.Tensor],
    meta: dict[str, Any],
    optimizer: torch.optim.Optimizer | None = None,
    last: dict[str, torch.Tensor] | None = None,
) -> Path:
    """Write one checkpoint set (``model.safetensors`` + ``last.safetensors``, ``optimizer.safetensors``
    and ``checkpoint.json``) into ``out_dir/checkpoints/<seq>/`` atomically and publish it in ``out_dir``.

    Args:
        model: the weights to serve (a module or a state dict): the best on validation so far.
        last: the weights of the last step when they differ from ``model`` (what ``--resume`` continues).

    Raises:
        TrainingDiverged: a weight is NaN/inf; nothing is written.
    """
    out = output_dir(out_dir)
    blobs = {MODEL_FILE: save(_tensors(model, out))}
    if last is not None:
        blobs[LAST_FILE] = save(_tensors(last, out))
    meta = {**meta, "format": FORMAT}
    if optimizer is not None:
        tensors, meta["optimizer"] = _flatten_optimizer(optimizer.state_dict())
        blobs[OPTIMIZER_FILE] = save(tensors)
    sets = child_dir(out, SETS_DIR)
    seq = max(_set_numbers(sets), default=0) + 1
    staging = Path(tempfile.mkdtemp(prefix=".staging-", suffix=TMP_SUFFIX, dir=sets))
    try:
        meta["files"] = {name: _write_blob(staging / name, blob) for name, blob in blobs.items()}
        meta["set"] = f"{seq:06d}"
        text = json.dumps(meta, indent=2, default=_json_default)
        _write_blob(staging / META_FILE, text.encode())
        fsync_dir(staging)
        os.rename(staging, sets / meta["set"])  # the one step that makes the set complete
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    fsync_dir(sets)
    _publish(out, sets / meta["set"], list(blobs))
    clean_orphans(out)
    return out


def _write_blob(path: Path, blob: bytes) -> str:
    """Write bytes durably into a new file; return their SHA-256."""
    import hashlib

    with open(path, "xb") as f:
        f.write(blob)
        f.flush()
        os.fsync(f.fileno())
    return hashlib.sha256(blob).hexdigest()


def _publish(out: Path, set_dir: Path, names: list[str]) -> None:
    """Make a complete set the folder's current checkpoint: each file linked (copied where links are not
    supported) under a unique temporary name and renamed into place, the JSON last; files of an
    earlier set that this one lacks are removed after."""
    for name in [*names, META_FILE]:
        atomic_write(out / name, lambda tmp, src=set_dir / name: _link_or_copy(src, Path(tmp)))
    for name in {MODEL_FILE, LAST_FILE, OPTIMIZER_FILE} - set(names):
        (out / name).unlink(missing_ok=True)


def _link_or_copy(src: Path, dst: Path) -> None:
    dst.unlink()
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def _set_numbers(sets: Path) -> list[int]:
    return [int(p.name) for p in sets.iterdir() if _SET_NAME.match(p.name)] if sets.is_dir() else []


def clean_orphans(out: str | Path) -> None:
    """Remove what an interrupted save leaves behind: staging folders, temporary files, and sets other
    than the newest ``KEEP_SETS`` that verify."""
    out = Path(out)
    sets = out / SETS_DIR
    for tmp in [*out.glob(f".*{TMP_SUFFIX}"), *(sets.glob(f".*{TMP_SUFFIX}") if sets.is_dir() else [])]:
        shutil.rmtree(tmp, ignore_errors=True) if tmp.is_dir() and not tmp.is_symlink() else tmp.unlink(missing_ok=True)
    kept = 0
    for n in sorted(_set_numbers(sets), reverse=True):
        folder = sets / f"{n:06d}"
        if kept < KEEP_SETS and set_problem(folder) is None:
            kept += 1
        else:
            shutil.rmtree(folder, ignore_errors=True)


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "item"):
        return obj.item()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    raise TypeError(f"not JSON-serialisable: {type(obj).__name__}")


def _parse_meta(path: Path) -> dict[str, Any]:
    """The JSON record of a checkpoint, its keys and their types checked (one line naming the culprit)."""
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"no checkpoint in {path.parent} ({META_FILE} not found)") from None
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"cannot read {path}: {getattr(e, 'strerror', None) or type(e).__name__}") from None
    except json.JSONDecodeError as e:
        raise UserError(f"{path} is not valid JSON: {e}") from None
    if not isinstance(meta, dict):
        raise UserError(f"{path} must hold a JSON object, got a {type(meta).__name__}")
    if meta.get("format") not in (1, FORMAT):
        raise UserError(f"{path}: unsupported checkpoint format {meta.get('format')!r}")
    required = {k: t for k, t in REQUIRED.items() if k != "files" or meta["format"] == FORMAT}
    missing = [k for k in required if k not in meta]
    if missing:
        raise UserError(f"{path}: missing key(s) {missing}; not a checkpoint written by noisereg")
    for key, kind in required.items():
        if not isinstance(meta[key], kind) or isinstance(meta[key], bool):
            raise UserError(f"{path}: '{key}' must be a JSON {kind.__name__}, got {type(meta[key]).__name__}")
    return meta


def set_problem(folder: Path) -> str | None:
    """Why the checkpoint set in ``folder`` cannot be used (a missing file, a checksum mismatch), or None."""
    try:
        meta = _parse_meta(folder / META_FILE)
    except UserError as e:
        return str(e)
    for name, digest in meta.get("files", {}).items():
        path = folder / name
        if not path.is_file():
            return f"{path} is missing"
        if sha256_file(path) != digest:
            return f"{path} does not match its SHA-256 in {META_FILE} (torn or corrupted)"
    return None


def read_meta(ckpt_dir: str | Path, *, verify: bool = True) -> dict[str, Any]:
    """The checkpoint's JSON (config, classes, preprocessing, stage, step, history); with ``verify`` every
    file of the set is checked against its SHA-256 first, so a torn or corrupted set is refused."""
    folder = Path(ckpt_dir)
    if folder.exists() and not folder.is_dir():
        raise UserError(f"checkpoint {folder} is a file; expected the folder written by `noisereg train`")
    meta = _parse_meta(folder / META_FILE)
    problem = set_problem(folder) if verify else None
    if problem:
        raise UserError(
            f"checkpoint refused: {problem}; `noisereg train --resume --out {folder}` restores the last complete one"
        )
    return meta


def load_weights(ckpt_dir: str | Path, name: str = MODEL_FILE) -> dict[str, torch.Tensor]:
    """The model weights (safetensors, no pickle); ``name=LAST_FILE`` for the last step's."""
    path = Path(ckpt_dir) / name
    if not path.is_file():
        raise UserError(f"checkpoint weights not found: {path}")
    try:
        return load(path.read_bytes())
    except Exception as e:
        raise UserError(f"cannot read {path}: {str(e).splitlines()[0]}") from None


def load_optimizer_state(ckpt_dir: str | Path, meta: dict[str, Any]) -> dict[str, Any] | None:
    """The optimizer state saved with the checkpoint, or None when there is none."""
    path = Path(ckpt_dir) / OPTIMIZER_FILE
    if "optimizer" not in meta or not path.is_file():
        return None
    try:
        return _unflatten_optimizer(load_weights(ckpt_dir, OPTIMIZER_FILE), meta["optimizer"])
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise UserError(f"{path}: the optimizer state does not match {META_FILE} ({type(e).__name__})") from None


def latest_complete(out: str | Path) -> tuple[Path, list[str]]:
    """The newest checkpoint set of a run's folder that verifies (the top-level copy for a folder without
    sets), and why each newer one was skipped; what ``--resume`` continues from.

    Raises:
        UserError: no complete checkpoint in ``out``.
    """
    out = Path(out)
    skipped: list[str] = []
    for n in sorted(_set_numbers(out / SETS_DIR), reverse=True):
        folder = out / SETS_DIR / f"{n:06d}"
        problem = set_problem(folder)
        if problem is None:
            return folder, skipped
        skipped.append(problem)
    if (out / META_FILE).is_file() and set_problem(out) is None:
        return out, skipped
    reason = f" ({skipped[0]})" if skipped else ""
    raise UserError(f"--resume: no complete checkpoint in {out}{reason}")


def has_checkpoint(out: str | Path) -> bool:
    """Whether ``out`` holds a checkpoint (complete or not) that a new run would replace."""
    out = Path(out)
    return (out / META_FILE).exists() or bool(_set_numbers(out / SETS_DIR))


def write_config(config: dict[str, Any], path: str | Path) -> None:
    """The resolved config as YAML next to the checkpoint, reusable with ``--config`` (written atomically,
    replacing a symlink rather than writing through it)."""
    import yaml

    path = Path(path)
    output_dir(path.parent)
    write_text(path, yaml.safe_dump(config, sort_keys=False))
