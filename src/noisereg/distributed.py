"""Devices and processes: device choice, and data-parallel training with torch.distributed as
launched by ``torchrun``.

``torchrun --nproc-per-node N -m noisereg train ...`` sets RANK / WORLD_SIZE / LOCAL_RANK; the CLI
joins the process group (``nccl`` on GPU, ``gloo`` on CPU), every rank runs the backbone on its block
of each mixed batch, the blocks' features are gathered (``gather_rows_with_grad``) so the losses average
over the global batch, BatchNorm layers normalise with the global batch's statistics
(``all_reduce_with_grad``, see ``models/batchnorm.py``), gradients are averaged by DistributedDataParallel,
and only rank 0 writes checkpoints. Nothing of size N travels between ranks: each rank writes its rows of extracted
features into one shared memmap, and evaluation sums per-rank counts (``all_reduce_sum``).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from .devices import check_device_name
from .errors import UserError


@dataclass(frozen=True)
class DistContext:
    """This process's place in the job: rank, world size, local rank (1 process: 0, 1, 0)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def current() -> DistContext:
    """The context of the initialised process group, or the single-process one."""
    if dist.is_available() and dist.is_initialized():
        return DistContext(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)))
    return DistContext()


def resolve_device(name: str) -> torch.device:
    """The device ``name`` spells (see ``devices.check_device_name``), refused in one line when absent.

    ``auto``: CUDA when available, then Apple's ``mps``, else the CPU. Under torchrun each rank takes the
    GPU of its local rank, so there ``cuda:N`` (one fixed GPU for every rank) is refused.
    """
    head, _, index = check_device_name(name).partition(":")
    if head == "auto":
        head = "cuda" if torch.cuda.is_available() else "mps" if _mps_available() else "cpu"
    if head == "cuda":
        if not torch.cuda.is_available():
            raise UserError(f"device '{name}' requested but no CUDA GPU is available")
        if not index:
            return torch.device("cuda", current().local_rank)
        if current().enabled:
            raise UserError(
                f"device '{name}': under torchrun each process takes the GPU of its LOCAL_RANK; "
                "pass --device cuda (and CUDA_VISIBLE_DEVICES to choose the GPUs)"
            )
        if int(index) >= torch.cuda.device_count():
            raise UserError(
                f"device '{name}' requested but this machine has {torch.cuda.device_count()} CUDA "
                f"GPU(s): cuda:0 to cuda:{torch.cuda.device_count() - 1}"
            )
        return torch.device("cuda", int(index))
    if head == "mps":
        if not _mps_available():
            raise UserError(f"device '{name}' requested but Apple's Metal (mps) backend is not available here")
        return torch.device("mps")
    return torch.device("cpu")


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def init_from_env(device: str = "auto") -> DistContext:
    """Join the process group that torchrun describes in the environment (no-op for one process).

    The backend is ``nccl`` when training on CUDA and ``gloo`` otherwise; each rank uses the GPU of
    its local rank.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1 or (dist.is_available() and dist.is_initialized()):
        return current()
    cuda = check_device_name(device).startswith("cuda") or (device == "auto" and torch.cuda.is_available())
    if cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
    dist.init_process_group("nccl" if cuda else "gloo")
    return current()


def shutdown() -> None:
    """Leave the process group if one was joined."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def shard(n: int, ctx: DistContext) -> np.ndarray:
    """This rank's contiguous block of ``range(n)`` (blocks differ in size by at most one)."""
    return np.array_split(np.arange(n), ctx.world_size)[ctx.rank]


def _backend_device() -> torch.device:
    """Where the process group's tensors must live: the current GPU for nccl, the CPU for gloo."""
    return torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")


def gather_rows(local: torch.Tensor, ctx: DistContext) -> torch.Tensor:
    """Concatenate every rank's rows in rank order (ranks may hold different row counts).

    Every rank ends up holding all rows: for small outputs only (``predict_logits``, a training batch's
    features and labels); extraction into the cache and evaluation never gather.
    """
    return _gather(local, ctx)[0] if ctx.enabled else local


def _gather(local: torch.Tensor, ctx: DistContext) -> tuple[torch.Tensor, list[int]]:
    """``gather_rows`` and each rank's row count."""
    backend_device = _backend_device()
    count = torch.tensor([local.shape[0]], device=backend_device)
    counts = [torch.zeros_like(count) for _ in range(ctx.world_size)]
    dist.all_gather(counts, count)
    sizes = [int(c.item()) for c in counts]
    padded = torch.zeros((max(sizes), *local.shape[1:]), dtype=local.dtype, device=backend_device)
    padded[: local.shape[0]] = local.detach().to(backend_device)
    parts = [torch.empty_like(padded) for _ in range(ctx.world_size)]
    dist.all_gather(parts, padded)
    return torch.cat([p[:n] for p, n in zip(parts, sizes)]).to(local.device), sizes


class _GatherRows(torch.autograd.Function):
    """``gather_rows`` that gradients flow back through: every rank computes the same loss on the
    gathered rows, so the gradient of its own block is its share, taken ``world_size`` times, which
    DistributedDataParallel's averaging divides back out."""

    @staticmethod
    def forward(fn_ctx: Any, local: torch.Tensor, rank: int, world_size: int) -> torch.Tensor:
        rows, sizes = _gather(local, DistContext(rank, world_size))
        fn_ctx.block, fn_ctx.world_size = (sum(sizes[:rank]), sum(sizes[: rank + 1])), world_size
        return rows

    @staticmethod
    def backward(fn_ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        start, stop = fn_ctx.block
        return grad[start:stop] * fn_ctx.world_size, None, None


def gather_rows_with_grad(local: torch.Tensor, ctx: DistContext) -> torch.Tensor:
    """Every rank's rows of ``local`` in rank order, differentiable: a loss computed from them on every
    rank trains each rank's rows as one process training on all of them would (see ``_GatherRows``)."""
    if not ctx.enabled:
        return local
    return _GatherRows.apply(local, ctx.rank, ctx.world_size)


class _AllReduceSum(torch.autograd.Function):
    """The sum over ranks of a tensor, differentiable: every rank uses the sum, so the gradient of its own
    summand is the sum of every rank's gradient of the sum (itself an all-reduce, so double backward works)."""

    @staticmethod
    def forward(fn_ctx: Any, local: torch.Tensor) -> torch.Tensor:
        total = local.detach().contiguous().to(_backend_device(), copy=True)
        dist.all_reduce(total, op=dist.ReduceOp.SUM)
        return total.to(local.device)

    @staticmethod
    def backward(fn_ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        return _AllReduceSum.apply(grad)


def all_reduce_with_grad(local: torch.Tensor, ctx: DistContext) -> torch.Tensor:
    """The element-wise sum of ``local`` over all ranks (``local`` itself for one process), through which
    gradients flow to every rank's summand: BatchNorm's statistics of the global batch
    (``models/batchnorm.py``). Small tensors only: they travel through the CPU under gloo."""
    return _AllReduceSum.apply(local) if ctx.enabled else local


def barrier(ctx: DistContext) -> None:
    if ctx.enabled:
        dist.barrier()


def all_reduce_sum(values: np.ndarray, ctx: DistContext) -> np.ndarray:
    """The element-wise sum of ``values`` over all ranks (a copy of ``values`` for one process).

    Counts and per-rank partial results: a rank that leaves an entry at 0 lets another rank's
    value through exactly, so it also shares values that only one rank knows.
    """
    values = np.asarray(values)
    if not ctx.enabled:
        return values.copy()
    t = torch.from_numpy(np.ascontiguousarray(values)).to(_backend_device())
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t.cpu().numpy().reshape(values.shape)


def broadcast_state(module: torch.nn.Module, ctx: DistContext) -> None:
    """Give every rank rank 0's parameters and buffers, in place.

    DDP keeps parameters equal, and BatchNorm running statistics computed from the global batch's
    statistics agree too, but a layer left to normalise per process (``models/batchnorm.py``) keeps
    its own: broadcasting makes the ranks score, extract and hash one and the same model.
    """
    if not ctx.enabled:
        return
    device = _backend_device()
    for t in module.state_dict().values():
        if t.device == device:
            dist.broadcast(t, src=0)
        else:
            moved = t.to(device)
            dist.broadcast(moved, src=0)
            t.copy_(moved)


def ranks_agree(text: str, ctx: DistContext) -> bool:
    """True when every rank passed the same ``text`` (compared by a 63-bit digest)."""
    if not ctx.enabled:
        return True
    digest = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little") >> 1
    votes = np.zeros(ctx.world_size, dtype=np.int64)
    votes[ctx.rank] = digest
    return len(set(all_reduce_sum(votes, ctx).tolist())) == 1


def data_parallel(model: torch.nn.Module, device: torch.device, ctx: DistContext) -> torch.nn.Module:
    """The module the loop steps: ``model`` itself, or under torchrun a DDP wrapper of its trainable
    parts (a frozen backbone is never wrapped: the heads stage wraps ``Identity`` + heads). Its BatchNorm
    layers are synchronised by the caller (``models.batchnorm.global_batch_norm``)."""
    if not ctx.enabled:
        return model
    ids = [device.index] if device.type == "cuda" else None
    return torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)
