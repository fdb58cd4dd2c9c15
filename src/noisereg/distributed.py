"""Devices and processes: device choice, and data-parallel training with torch.distributed as
launched by ``torchrun``.

``torchrun --nproc-per-node N -m noisereg train ...`` sets RANK / WORLD_SIZE / LOCAL_RANK; the CLI
joins the process group (``nccl`` on GPU, ``gloo`` on CPU), every rank trains on its own share of
each mixed batch, gradients are averaged by DistributedDataParallel, evaluation logits and
extracted features are gathered across ranks, and only rank 0 writes files.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist

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
    """``auto`` -> CUDA when available, else CPU; under torchrun each rank takes its local GPU."""
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("device 'cuda' requested but no CUDA GPU is available")
    if name == "cuda" or (name == "auto" and torch.cuda.is_available()):
        return torch.device("cuda", current().local_rank)
    return torch.device("cpu")


def init_from_env(device: str = "auto") -> DistContext:
    """Join the process group that torchrun describes in the environment (no-op for one process).

    The backend is ``nccl`` when training on CUDA and ``gloo`` on CPU; each rank uses the GPU of
    its local rank.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1 or (dist.is_available() and dist.is_initialized()):
        return current()
    cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
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


def gather_rows(local: torch.Tensor, ctx: DistContext) -> torch.Tensor:
    """Concatenate every rank's rows in rank order (ranks may hold different row counts)."""
    if not ctx.enabled:
        return local
    backend_device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" \
        else torch.device("cpu")
    count = torch.tensor([local.shape[0]], device=backend_device)
    counts = [torch.zeros_like(count) for _ in range(ctx.world_size)]
    dist.all_gather(counts, count)
    most = int(max(c.item() for c in counts))
    padded = torch.zeros((most, *local.shape[1:]), dtype=local.dtype, device=backend_device)
    padded[:local.shape[0]] = local.to(backend_device)
    parts = [torch.empty_like(padded) for _ in range(ctx.world_size)]
    dist.all_gather(parts, padded)
    return torch.cat([p[:int(c.item())] for p, c in zip(parts, counts)]).to(local.device)


def barrier(ctx: DistContext) -> None:
    if ctx.enabled:
        dist.barrier()
