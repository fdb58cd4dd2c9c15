"""The optimisation loop (one screen), its optimizer and its learning-rate schedule."""
from __future__ import annotations

from typing import Any, Callable, Iterable, Optional

import torch
from tqdm.auto import tqdm

from ..config import TrainConfig
from ..errors import TrainingDiverged
from ..methods import Batch
from .model import Classifier


def make_optimizer(model: Classifier, cfg: TrainConfig) -> torch.optim.Optimizer:
    """Adam or RMSProp; the backbone gets ``backbone_lr`` (default ``lr``), frozen parts nothing."""
    groups = [{"params": [p for p in model.method.parameters() if p.requires_grad], "lr": cfg.lr}]
    backbone = [p for p in model.backbone.parameters() if p.requires_grad]
    if backbone:
        groups.append({"params": backbone, "lr": cfg.backbone_lr or cfg.lr})
    for g in groups:
        g["initial_lr"] = g["lr"]
    opt = torch.optim.Adam if cfg.optimizer == "adam" else torch.optim.RMSprop
    return opt(groups, weight_decay=cfg.weight_decay)


def set_lr(optimizer: torch.optim.Optimizer, cfg: TrainConfig, step: int) -> None:
    """Step decay: lr * lr_decay ** (step // decay_every); a pure function of the step, so resumable."""
    factor = cfg.lr_decay ** (step // cfg.decay_every) if cfg.decay_every else 1.0
    for g in optimizer.param_groups:
        g["lr"] = g["initial_lr"] * factor


def train_loop(model: torch.nn.Module, batches: Iterable[Batch], optimizer: torch.optim.Optimizer,
               cfg: TrainConfig, steps: range, *, device: torch.device, desc: str,
               history: Optional[list[dict]] = None, tag: Optional[dict[str, Any]] = None,
               on_step: Optional[Callable[[int, dict], None]] = None) -> list[dict[str, Any]]:
    """Run the optimisation over ``steps``, appending one record per step (loss parts, ``tag``) to
    ``history``; ``on_step(step, record)`` may add to the record (evaluation) and save checkpoints.

    Raises:
        TrainingDiverged: the loss became NaN/inf (checked before the update, so weights stay finite).
    """
    model.train()
    amp = cfg.amp and device.type == "cuda"
    dtype = torch.float16 if cfg.amp_dtype == "float16" else torch.bfloat16
    scaler = torch.amp.GradScaler("cuda", enabled=amp and dtype == torch.float16)
    history = [] if history is None else history
    bar = tqdm(zip(steps, batches), total=len(steps), desc=desc, disable=cfg.quiet, leave=False, unit="step")
    for step, batch in bar:
        set_lr(optimizer, cfg, step)
        batch = batch.to(device)
        with torch.autocast(device.type, dtype=dtype, enabled=amp):
            out = model(batch.x, batch)
        loss = out["loss"].float()
        if not torch.isfinite(loss):
            raise TrainingDiverged(f"{desc}: the loss became {loss.item()} at step {step + 1}; "
                                   "try a lower learning rate (the last good checkpoint is kept)")
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        record = {"step": step + 1, **(tag or {}),
                  **{k: float(v.detach()) for k, v in out.items() if k.startswith(("loss", "l_"))}}
        history.append(record)
        if on_step is not None:
            on_step(step + 1, record)
            model.train()
        bar.set_postfix(loss=f"{record['loss']:.4f}", refresh=False)
    return history
