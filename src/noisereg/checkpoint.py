"""Checkpoints: safetensors weights + a JSON file (config, classes, preprocessing, step), written atomically.

Every file is written under a temporary name and renamed into place only when all are complete
and every weight is finite, so a crash or a diverged run never replaces a good checkpoint.
Loading reads no pickle: safetensors and JSON only.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Optional

import torch
from safetensors.torch import load_file, save_file

from .errors import TrainingDiverged, UserError

MODEL_FILE = "model.safetensors"
OPTIMIZER_FILE = "optimizer.safetensors"
LAST_FILE = "last.safetensors"  # the weights of the last step, when the model file holds the best ones
META_FILE = "checkpoint.json"
FORMAT = 1


def _tmp_path(final: Path) -> Path:
    fd, name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    os.close(fd)
    return Path(name)


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


def save_checkpoint(out_dir: str | Path, model: torch.nn.Module | dict[str, torch.Tensor], meta: dict[str, Any],
                    optimizer: Optional[torch.optim.Optimizer] = None,
                    last: Optional[dict[str, torch.Tensor]] = None) -> Path:
    """Write ``model.safetensors`` (+ ``last.safetensors``, ``optimizer.safetensors``) and
    ``checkpoint.json`` into ``out_dir``.

    Args:
        model: the weights to serve (a module or a state dict): the best on validation so far.
        last: the weights of the last step when they differ from ``model`` (what ``--resume`` continues).

    Raises:
        TrainingDiverged: a weight is NaN/inf; nothing is written.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    weights = _tensors(model, out)
    last_weights = _tensors(last, out) if last is not None else None
    meta = {**meta, "format": FORMAT}
    staged: list[tuple[Path, Path]] = []
    try:
        staged.append((_write(save_file, weights, out / MODEL_FILE), out / MODEL_FILE))
        if last_weights is not None:
            staged.append((_write(save_file, last_weights, out / LAST_FILE), out / LAST_FILE))
        if optimizer is not None:
            tensors, rest = _flatten_optimizer(optimizer.state_dict())
            meta["optimizer"] = rest
            staged.append((_write(save_file, tensors, out / OPTIMIZER_FILE), out / OPTIMIZER_FILE))
        text = json.dumps(meta, indent=2, default=_json_default)
        staged.append((_write(lambda t, p: Path(p).write_text(t), text, out / META_FILE), out / META_FILE))
    except BaseException:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
        raise
    for tmp, final in staged:  # the JSON goes last: it is what marks a checkpoint as present
        os.replace(tmp, final)
    return out


def _write(writer: Any, payload: Any, final: Path) -> Path:
    tmp = _tmp_path(final)
    try:
        writer(payload, str(tmp))
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "item"):
        return obj.item()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    raise TypeError(f"not JSON-serialisable: {type(obj).__name__}")


def read_meta(ckpt_dir: str | Path) -> dict[str, Any]:
    """The checkpoint's JSON: config, classes, preprocessing, stage, step, history."""
    path = Path(ckpt_dir) / META_FILE
    try:
        meta = json.loads(path.read_text())
    except FileNotFoundError:
        raise UserError(f"no checkpoint in {ckpt_dir} ({META_FILE} not found)") from None
    except json.JSONDecodeError as e:
        raise UserError(f"{path} is not valid JSON: {e}") from None
    if meta.get("format") != FORMAT:
        raise UserError(f"{path}: unsupported checkpoint format {meta.get('format')!r}")
    return meta


def load_weights(ckpt_dir: str | Path, name: str = MODEL_FILE) -> dict[str, torch.Tensor]:
    """The model weights (safetensors, no pickle); ``name=LAST_FILE`` for the last step's."""
    path = Path(ckpt_dir) / name
    if not path.is_file():
        raise UserError(f"checkpoint weights not found: {path}")
    try:
        return load_file(str(path))
    except Exception as e:
        raise UserError(f"cannot read {path}: {str(e).splitlines()[0]}") from None


def load_optimizer_state(ckpt_dir: str | Path, meta: dict[str, Any]) -> Optional[dict[str, Any]]:
    """The optimizer state saved with the checkpoint, or None when there is none."""
    path = Path(ckpt_dir) / OPTIMIZER_FILE
    if "optimizer" not in meta or not path.is_file():
        return None
    return _unflatten_optimizer(load_file(str(path)), meta["optimizer"])


def write_config(config: dict[str, Any], path: str | Path) -> None:
    """The resolved config as YAML next to the checkpoint, reusable with ``--config``."""
    import yaml
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
