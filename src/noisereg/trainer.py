"""Training and evaluation, knowing no method by name.

Two schemes (paper sec. 3.3):
- ``end-to-end``: backbone and method trained together on mixed clean:noisy batches;
- ``frozen``: stage one trains the backbone with a linear classifier on the noisy labels
  (Backbone (Noisy)); the backbone is then frozen, its features computed once, and the method's
  heads train on those cached features.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Optional

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from .checkpoint import load_optimizer_state, load_weights, read_meta, save_checkpoint
from .config import TrainConfig
from .data.images import ImageFiles, normalise, resize_batch
from .data.features import cache_key, open_cache, weights_hash, write_cache
from .data.labelset import LabelledSet
from .data.sampler import MixedBatchSampler
from .distributed import DistContext, barrier, current, gather_rows, shard
from .errors import TrainingDiverged, UserError
from .methods import Batch, LinearClassifier, Method, create_method, get_method_spec
from .methods.base import PhaseContext
from .metrics import evaluate_scores
from .models.backbones import Backbone, Preprocess, create_backbone


class Classifier(nn.Module):
    """A backbone f(x) (or Identity over cached features) with a method on top."""

    def __init__(self, backbone: nn.Module, method: Method) -> None:
        super().__init__()
        self.backbone = backbone
        self.method = method

    def forward(self, x: torch.Tensor, batch: Optional[Batch] = None) -> dict[str, torch.Tensor]:
        return self.method(self.backbone(x), batch)


@dataclass
class FitResult:
    """A trained classifier, its preprocessing and the per-step records (loss, eval metrics)."""

    model: Classifier
    preprocess: Preprocess
    history: list[dict[str, float]] = field(default_factory=list)
    stage_one: Optional[Classifier] = None


def resolve_device(name: str) -> torch.device:
    """``auto`` -> CUDA when available, else CPU."""
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("device 'cuda' requested but no CUDA GPU is available")
    if name == "cuda" or (name == "auto" and torch.cuda.is_available()):
        return torch.device("cuda", current().local_rank)  # one GPU per rank under torchrun
    return torch.device("cpu")


def in_chans_of(data: LabelledSet) -> int:
    """Channels of the set's images (the tensor's, 3 for image files), or D for precomputed features."""
    return int(data.images.shape[1]) if data.holds_arrays else 3


def build_backbone(cfg: TrainConfig, data: LabelledSet) -> Backbone:
    """The configured backbone; precomputed features always get the identity backbone ``features``."""
    torch.manual_seed(cfg.seed)
    name = "features" if data.holds_features else cfg.backbone
    return create_backbone(name, pretrained=cfg.pretrained, weights=cfg.weights,
                           in_chans=in_chans_of(data), image_size=cfg.image_size)


# ---------------------------------------------------------------- inputs
class _Batches:
    """Re-iterable list of index arrays for a DataLoader's ``batch_sampler``."""

    def __init__(self, index_batches: list[np.ndarray]) -> None:
        self.index_batches = index_batches

    def __iter__(self) -> Iterator[list[int]]:
        return (b.tolist() for b in self.index_batches)

    def __len__(self) -> int:
        return len(self.index_batches)


def iter_inputs(images: Any, pre: Preprocess, index_batches: list[np.ndarray], *,
                num_workers: int = 0, pin: bool = False) -> Iterator[torch.Tensor]:
    """Backbone inputs for each index batch: from a pixel tensor, a feature matrix, or image files."""
    if isinstance(images, torch.Tensor) and images.dim() == 2:       # features in memory (N, D)
        yield from (images[torch.as_tensor(b)] for b in index_batches)
    elif isinstance(images, np.ndarray):                              # feature cache memmap (N, D) fp16
        yield from (torch.from_numpy(images[b].astype(np.float32)) for b in index_batches)
    elif isinstance(images, torch.Tensor):                            # [0, 1] pixels (N, C, H, W)
        for b in index_batches:
            yield normalise(resize_batch(images[torch.as_tensor(b)], pre.image_size), pre)
    else:
        loader = torch.utils.data.DataLoader(ImageFiles(images, pre), batch_sampler=_Batches(index_batches),
                                             num_workers=num_workers, pin_memory=pin)
        yield from loader


def _targets(data: LabelledSet, clean: np.ndarray, noisy: np.ndarray) -> tuple[torch.Tensor, ...]:
    """targets, mask, is_clean, and every row's noisy label with its presence flag."""
    rows = np.concatenate([clean, noisy])
    noisy_labels = data.noisy_rows(rows)
    targets = np.concatenate([data.clean_rows(clean), noisy_labels[len(clean):]])
    mask = np.concatenate([data.known_rows(clean), np.ones((len(noisy), data.num_classes), dtype=bool)])
    is_clean = np.r_[np.ones(len(clean), bool), np.zeros(len(noisy), bool)]
    return (torch.from_numpy(targets), torch.from_numpy(mask.astype(np.float32)), torch.from_numpy(is_clean),
            torch.from_numpy(noisy_labels), torch.from_numpy(data.has_noisy[rows]))


def iter_training_batches(data: LabelledSet, images: Any, pre: Preprocess, sampler: MixedBatchSampler,
                          steps: range, num_workers: int = 0, pin: bool = False) -> Iterator[Batch]:
    """Mixed batches for ``steps``: the clean rows first, then the noisy rows (see ``Batch``)."""
    parts = [sampler.batch(t) for t in steps]
    index_batches = [np.concatenate([p.clean, p.noisy]) for p in parts]
    for p, x in zip(parts, iter_inputs(images, pre, index_batches, num_workers=num_workers, pin=pin)):
        yield Batch(x, *_targets(data, p.clean, p.noisy))


# ---------------------------------------------------------------- prediction
@torch.inference_mode()
def predict_logits(model: Classifier, images: Any, pre: Preprocess, *, device: torch.device,
                   batch_size: int = 256, num_workers: int = 0) -> dict[str, torch.Tensor]:
    """Logits of every output (``logits`` = the final classifier g's; ``h_logits`` when the method has h)."""
    model.eval()
    ctx = current()
    rows = shard(len(images), ctx)  # each rank scores its block, then the blocks are gathered
    batches = [rows[i:i + batch_size] for i in range(0, len(rows), batch_size)]
    outs: dict[str, list[torch.Tensor]] = {}
    for x in iter_inputs(images, pre, batches, num_workers=num_workers):
        for key, value in model(x.to(device)).items():
            outs.setdefault(key, []).append(value.float().cpu())
    if not outs:
        raise UserError(f"{len(images)} images cannot be scored by {ctx.world_size} processes")
    return {key: gather_rows(torch.cat(v), ctx) for key, v in outs.items()}


def iter_features(backbone: nn.Module, images: Any, pre: Preprocess, *, device: torch.device, batch_size: int,
             num_workers: int, quiet: bool) -> Iterator[tuple[np.ndarray, torch.Tensor]]:
    """(row indices, features) batch by batch: inference mode, channels_last, autocast on GPU."""
    backbone.eval().to(device)
    cuda = device.type == "cuda"
    if cuda:
        backbone.to(memory_format=torch.channels_last)
    rows_all = shard(len(images), current())  # under torchrun each rank extracts its own block
    batches = [rows_all[i:i + batch_size] for i in range(0, len(rows_all), batch_size)]
    inputs = iter_inputs(images, pre, batches, num_workers=num_workers, pin=cuda)
    bar = tqdm(total=len(rows_all), desc="features", unit="img", disable=quiet, leave=False)
    with torch.inference_mode(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=cuda):
        for rows, x in zip(batches, inputs):
            x = x.to(device, non_blocking=cuda)
            if cuda and x.dim() == 4:
                x = x.contiguous(memory_format=torch.channels_last)
            yield rows, backbone(x).float().cpu()
            bar.update(len(rows))
    bar.close()


def extract_features(backbone: nn.Module, images: Any, pre: Preprocess, *, device: torch.device,
                     batch_size: int = 256, num_workers: int = 0, quiet: bool = True) -> torch.Tensor:
    """f(x) of every image, computed once, as an (N, D) float32 tensor in memory (gathered over ranks)."""
    parts = [f for _, f in iter_features(backbone, images, pre, device=device, batch_size=batch_size,
                                    num_workers=num_workers, quiet=quiet)]
    dim = getattr(backbone, "feature_dim", 0)
    return gather_rows(torch.cat(parts) if parts else torch.empty(0, dim), current())


def features_key(backbone: Backbone, data: LabelledSet) -> dict[str, Any]:
    """The feature-cache key: backbone name and weights, preprocessing, image ids (and pixels for tensors)."""
    content = ""
    if isinstance(data.images, torch.Tensor):  # in-memory images: their pixels are part of the key
        content = hashlib.sha256(data.images.contiguous().numpy().tobytes()).hexdigest()
    return cache_key(backbone=backbone.name, weights=weights_hash(backbone),
                     preprocess=backbone.preprocess.to_dict(), ids=data.ids, content=content)


def cached_features(backbone: Backbone, data: LabelledSet, *, device: torch.device, cache_dir: Optional[str],
                    batch_size: int = 256, num_workers: int = 0, quiet: bool = True) -> Any:
    """Features of ``data``: from the cache in ``cache_dir`` when its key matches, else extracted once
    (and stored there). Without a cache folder they stay in memory as float32."""
    pre = backbone.preprocess
    if data.holds_features:  # precomputed embeddings are their own cache
        return data.images
    if cache_dir is None:
        return extract_features(backbone, data.images, pre, device=device, batch_size=batch_size,
                                num_workers=num_workers, quiet=quiet)
    key = features_key(backbone, data)
    hit = open_cache(cache_dir, key)
    if hit is not None:
        return hit
    ctx = current()
    if ctx.enabled:  # ranks extract their blocks, rank 0 writes the gathered rows, the others open them
        feats = extract_features(backbone, data.images, pre, device=device, batch_size=batch_size,
                                 num_workers=num_workers, quiet=quiet)
        if ctx.is_main:
            write_cache(cache_dir, key, backbone.feature_dim, lambda out: out.__setitem__(
                slice(None), feats.numpy().astype(np.float16)))
        barrier(ctx)
        return open_cache(cache_dir, key)

    def fill(out: np.ndarray) -> None:
        for rows, f in iter_features(backbone, data.images, pre, device=device, batch_size=batch_size,
                                num_workers=num_workers, quiet=quiet):
            out[rows[0]:rows[-1] + 1] = f.numpy().astype(np.float16)

    return write_cache(cache_dir, key, backbone.feature_dim, fill)


def evaluate(model: Classifier, data: LabelledSet, pre: Preprocess, *, device: torch.device,
             images: Any = None, which: str = "logits") -> dict[str, float]:
    """mAP, AP_all and top-1 of classifier g (or h with ``which="h_logits"``) on the clean labels."""
    data.require(clean=True, noisy=False, where="evaluation set")
    rows = data.clean_indices
    logits = predict_logits(model, data.images if images is None else images, pre, device=device)
    if which not in logits:
        raise UserError(f"this model has no output '{which}'")
    return evaluate_scores(torch.sigmoid(logits[which][rows]).numpy(), data.clean_rows(rows))


# ---------------------------------------------------------------- the loop
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


def _set_lr(optimizer: torch.optim.Optimizer, cfg: TrainConfig, step: int) -> None:
    """Step decay: lr * lr_decay ** (step // decay_every); a pure function of the step, so resumable."""
    factor = cfg.lr_decay ** (step // cfg.decay_every) if cfg.decay_every else 1.0
    for g in optimizer.param_groups:
        g["lr"] = g["initial_lr"] * factor


def train_loop(model: Classifier, batches: Iterable[Batch], optimizer: torch.optim.Optimizer, cfg: TrainConfig,
               steps: range, *, device: torch.device, desc: str, history: Optional[list[dict]] = None,
               tag: Optional[dict[str, Any]] = None,
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
        _set_lr(optimizer, cfg, step)
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


# ---------------------------------------------------------------- fitting
def _num_steps(cfg: TrainConfig, sampler: MixedBatchSampler, steps: int) -> int:
    return math.ceil(cfg.epochs * sampler.steps_per_epoch()) if cfg.epochs else steps


class _Run:
    """State shared by the stages of one ``fit``: config, data, device, output folder, history."""

    def __init__(self, train: LabelledSet, cfg: TrainConfig, eval_set: Optional[LabelledSet],
                 out: Optional[Path]) -> None:
        self.train, self.cfg, self.eval_set, self.out = train, cfg, eval_set, out
        self.device = resolve_device(cfg.device)
        self.ctx: DistContext = current()
        if not self.ctx.is_main:
            self.cfg = cfg = cfg.replace(quiet=True)  # one progress bar, on rank 0
        self.history: list[dict[str, float]] = []

    def meta(self, model: Classifier, pre: Preprocess, stage: str, step: int) -> dict[str, Any]:
        return {"config": self.cfg.to_dict(), "classes": self.train.classes, "preprocess": pre.to_dict(),
                "in_chans": in_chans_of(self.train), "backbone": model.backbone.name,
                "feature_dim": int(model.backbone.feature_dim), "stage": stage, "step": step,
                "history": self.history}

    def save(self, model: Classifier, pre: Preprocess, stage: str, step: int,
             optimizer: Optional[torch.optim.Optimizer]) -> None:
        if self.out is not None and self.ctx.is_main:  # only rank 0 writes
            save_checkpoint(self.out, model, self.meta(model, pre, stage, step), optimizer)
        barrier(self.ctx)

    def stage(self, model: Classifier, train_model: Classifier, images: Any, eval_images: Any, pre: Preprocess,
              stage: str, total: int, resume: Optional[dict] = None) -> None:
        """Train ``train_model`` (sharing weights with ``model``) through its method's phases, each for
        ``total`` steps; ``resume`` (stage label, step, optimizer state) continues inside a phase."""
        method = train_model.method
        method.check_data(self.train, f"method '{self.cfg.method}' ({stage} stage)")
        phases = method.phases()
        labels = [stage if len(phases) == 1 else f"{stage}:{p.name}" for p in phases]
        first = labels.index(resume["stage"]) if resume else 0
        train_model.to(self.device)
        for i in range(first, len(phases)):
            start, opt_state = (resume["step"], resume["optimizer"]) if resume and i == first else (0, None)
            if start == 0:
                method.start_phase(phases[i].name, PhaseContext(self.train, lambda rows: _logits_of(
                    train_model, images, pre, rows, self.device)))
            method.phase = phases[i].name
            self._phase(model, train_model, images, eval_images, pre, labels[i], phases[i].clean_ratio, total,
                        start, opt_state)

    def _phase(self, model: Classifier, train_model: Classifier, images: Any, eval_images: Any, pre: Preprocess,
               label: str, clean_ratio: float, total: int, start: int, opt_state: Optional[dict]) -> None:
        cfg = self.cfg
        sampler = MixedBatchSampler(self.train.clean_indices, self.train.noisy_indices,
                                    batch_size=cfg.batch_size, clean_ratio=clean_ratio, seed=cfg.seed,
                                    rank=self.ctx.rank, world_size=self.ctx.world_size)
        total = _num_steps(cfg, sampler, total)
        optimizer = make_optimizer(train_model, cfg)
        if opt_state is not None:
            optimizer.load_state_dict(opt_state)
        stepper = _data_parallel(train_model, self.device, self.ctx)
        if cfg.compile:
            stepper = torch.compile(stepper)
        steps = range(start, total)
        batches = iter_training_batches(self.train, images, pre, sampler, steps, cfg.num_workers,
                                        pin=self.device.type == "cuda")

        def on_step(step: int, record: dict) -> None:
            if self.eval_set is not None and cfg.eval_every and (step % cfg.eval_every == 0 or step == total):
                scores = evaluate(train_model, self.eval_set, pre, device=self.device, images=eval_images)
                record.update({f"eval_{k}": v for k, v in scores.items() if k != "classes_skipped"})
            if cfg.save_every and step % cfg.save_every == 0 and step < total:
                self.save(model, pre, label, step, optimizer)

        train_loop(stepper, batches, optimizer, cfg, steps, device=self.device, desc=f"{cfg.method}:{label}",
                   history=self.history, tag={"stage": label}, on_step=on_step)
        self.save(model, pre, label, total, optimizer)


def _logits_of(model: Classifier, images: Any, pre: Preprocess, rows: np.ndarray,
               device: torch.device) -> torch.Tensor:
    """The model's final logits for some training rows (for a phase's set-up), in eval mode."""
    if isinstance(images, (torch.Tensor, np.ndarray)):
        subset = images[torch.as_tensor(rows)] if isinstance(images, torch.Tensor) else np.asarray(images[rows])
    else:
        subset = [images[i] for i in rows]
    out = predict_logits(model, subset, pre, device=device)["logits"]
    model.train()
    return out


def _data_parallel(model: Classifier, device: torch.device, ctx: DistContext) -> nn.Module:
    """The module the loop steps: ``model`` itself, or under torchrun a DDP wrapper of its trainable
    parts (a frozen backbone is never wrapped: the heads stage wraps ``Identity`` + heads).

    BatchNorm layers become SyncBatchNorm on GPU, so statistics cover the global batch there; on
    CPU (gloo) each rank normalises with its own share.
    """
    if not ctx.enabled:
        return model
    if device.type == "cuda":
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    return nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)


def _stage_one_model(backbone: Backbone, num_classes: int) -> Classifier:
    """Backbone (Noisy): the backbone with a linear classifier, trained on all noisy labels."""
    return Classifier(backbone, LinearClassifier(backbone.feature_dim, num_classes, clean_ratio=0.0))


def _with_method(backbone: Backbone, cfg: TrainConfig, num_classes: int) -> Classifier:
    torch.manual_seed(cfg.seed)
    return Classifier(backbone, create_method(cfg.method, backbone.feature_dim, num_classes, cfg))


def _freeze(backbone: nn.Module) -> None:
    backbone.eval()
    for p in backbone.parameters():
        p.requires_grad_(False)


def fit(train: LabelledSet, cfg: TrainConfig, *, eval_set: Optional[LabelledSet] = None,
        out: Optional[str | Path] = None, resume: bool = False,
        stage_one: Optional[Classifier] = None) -> FitResult:
    """Train ``cfg.method`` on ``train`` with ``cfg.scheme``; checkpoints go to ``out`` when given.

    Args:
        train: D_c ∪ D_n.
        cfg: the run's configuration.
        eval_set: clean-labelled images for the convergence curve (every ``cfg.eval_every`` steps).
        out: checkpoint folder (written atomically; the JSON records config, classes and history).
        resume: continue the run whose checkpoint is in ``out``.
        stage_one: for the frozen scheme, an already trained Backbone (Noisy) to reuse (its backbone is
            shared, not copied), so one stage one serves many methods.
    """
    run = _Run(train, cfg, eval_set, Path(out) if out is not None else None)
    state = _resume_state(out, cfg) if resume else None
    if out is not None and run.ctx.is_main:
        write_config(cfg, Path(out) / "config.yaml")
    if state is not None:
        run.history = state["meta"]["history"]
    if cfg.scheme == "end-to-end":
        return _fit_end_to_end(run, state)
    return _fit_frozen(run, state, stage_one)


def _fit_end_to_end(run: _Run, state: Optional[dict]) -> FitResult:
    cfg = run.cfg
    model = state["model"] if state else _with_method(build_backbone(cfg, run.train), cfg, run.train.num_classes)
    pre = model.backbone.preprocess
    run.stage(model, model, run.train.images, None if run.eval_set is None else run.eval_set.images, pre,
              "end-to-end", cfg.steps, state)
    return FitResult(model.cpu(), pre, run.history)


def _fit_frozen(run: _Run, state: Optional[dict], stage_one: Optional[Classifier]) -> FitResult:
    cfg, k = run.cfg, run.train.num_classes
    in_heads = bool(state) and state["stage"].startswith("heads")
    if in_heads:
        model = state["model"]
        backbone = model.backbone
    else:
        if stage_one is None:
            stage_one = state["model"] if state else _stage_one_model(build_backbone(cfg, run.train), k)
            if cfg.backbone_steps and not run.train.holds_features:
                run.stage(stage_one, stage_one, run.train.images, None, stage_one.backbone.preprocess,
                          "backbone", cfg.backbone_steps, state)
        backbone = stage_one.backbone
        if get_method_spec(cfg.method).is_backbone_noisy and cfg.backbone_steps and not run.train.holds_features:
            return FitResult(stage_one.cpu(), backbone.preprocess, run.history, stage_one)
        model = _with_method(backbone, cfg, k)
    _freeze(backbone)
    pre = backbone.preprocess
    opts = dict(device=run.device, cache_dir=cfg.cache_dir, quiet=cfg.quiet, num_workers=cfg.num_workers)
    feats = cached_features(backbone, run.train, **opts)
    eval_feats = None if run.eval_set is None else cached_features(backbone, run.eval_set, **opts)
    heads = Classifier(nn.Identity(), model.method)
    run.stage(model, heads, feats, eval_feats, pre, "heads", cfg.steps, state if in_heads else None)
    return FitResult(model.cpu(), pre, run.history, stage_one)


# ---------------------------------------------------------------- checkpoints
def write_config(cfg: TrainConfig, path: Path) -> None:
    """The resolved config as YAML next to the checkpoint, reusable with ``--config``."""
    import yaml
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))


def load_classifier(ckpt_dir: str | Path) -> tuple[Classifier, dict[str, Any]]:
    """Rebuild a trained classifier from a checkpoint folder (safetensors + JSON, no pickle)."""
    meta = read_meta(ckpt_dir)
    cfg = TrainConfig.from_dict(meta["config"])
    pre = Preprocess.from_dict(meta["preprocess"])
    backbone = create_backbone(meta.get("backbone", cfg.backbone), pretrained=False, in_chans=int(meta["in_chans"]),
                               image_size=pre.image_size)
    k = len(meta["classes"])
    model = _stage_one_model(backbone, k) if meta["stage"] == "backbone" else _with_method(backbone, cfg, k)
    try:
        model.load_state_dict(load_weights(ckpt_dir))
    except RuntimeError as e:
        raise UserError(f"{ckpt_dir}: weights do not match the recorded config: {str(e).splitlines()[0]}") from None
    return model.eval(), meta


def _resume_state(out: Optional[str | Path], cfg: TrainConfig) -> Optional[dict]:
    """Model, optimizer state, stage and step of the checkpoint in ``out`` (None if there is none)."""
    if out is None:
        raise UserError("--resume needs --out pointing at the run's folder")
    if not (Path(out) / "checkpoint.json").is_file():
        raise UserError(f"--resume: no checkpoint to resume in {out}")
    model, meta = load_classifier(out)
    old = TrainConfig.from_dict(meta["config"])
    changed = [k for k in ("method", "scheme", "backbone", "activation", "hidden") if getattr(old, k) != getattr(cfg, k)]
    if changed:
        raise UserError(f"--resume: {changed} differ from the checkpoint in {out}; use a new --out")
    return {"model": model, "meta": meta, "stage": meta["stage"], "step": int(meta["step"]),
            "optimizer": load_optimizer_state(out, meta)}
