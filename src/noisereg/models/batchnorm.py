"""BatchNorm over the global batch under torchrun, on any device: N processes train a backbone as one does.

Each rank runs the backbone on its block of the global batch (``data/sampler.py``). A plain BatchNorm
would normalise each block with its own mean and variance (with batch 32 at 1:9 on two ranks: rank 0's
3 clean + 13 noisy rows, rank 1's 16 noisy rows) and keep running statistics of half batches, so two
processes would train another model than one. ``global_batch_norm`` swaps a model's BatchNorm layers,
for the time it trains, for layers that normalise with the statistics of the whole batch: torch's
SyncBatchNorm on CUDA, ``GlobalBatchNorm`` elsewhere (torch's refuses CPU tensors, so gloo runs).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from ..distributed import DistContext, all_reduce_with_grad, current
from ..progress import warn

PLAIN = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)  # swapped; subclasses (timm's BatchNormAct2d) are not


class GlobalBatchNorm(_BatchNorm):
    """``nn.BatchNorm1d/2d/3d`` whose training statistics are those of the global batch under torchrun.

    The per-channel sums and counts, then the sums of squared deviations from the global mean, are summed
    over the ranks (``all_reduce_with_grad``: differentiable, so the gradient through mean and variance
    covers every rank's rows, as one process's does). Output and running statistics (the variance kept
    unbiased, as torch keeps it) are one process's on the whole batch, up to float rounding, and agree
    across ranks. In eval mode, or in one process, it is ``nn.BatchNorm``. Input: (N, C, *).
    """

    def _check_input_dim(self, x: torch.Tensor) -> None:
        if x.dim() < 2:
            raise ValueError(f"expected at least 2D input (got {x.dim()}D input)")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ctx = current()
        if not (self.training and ctx.enabled):
            return super().forward(x)
        self._check_input_dim(x)
        factor = self._running_factor()
        dims, shape = [0, *range(2, x.dim())], [1, -1, *[1] * (x.dim() - 2)]
        count = x.new_tensor([x.numel() // x.shape[1]], dtype=torch.float64)
        sums = all_reduce_with_grad(torch.cat([x.sum(dims, dtype=torch.float64), count]), ctx)
        n = float(sums[-1].detach())
        if n <= 1:
            raise ValueError(f"Expected more than 1 value per channel when training, got input size {tuple(x.shape)}")
        mean = (sums[:-1] / n).to(x.dtype)
        centred = x - mean.reshape(shape)
        var = all_reduce_with_grad(centred.square().sum(dims, dtype=torch.float64), ctx).div(n).to(x.dtype)
        y = centred * torch.rsqrt(var + self.eps).reshape(shape)
        if self.weight is not None and self.bias is not None:
            y = y * self.weight.reshape(shape) + self.bias.reshape(shape)
        if self.running_mean is not None and self.running_var is not None:
            with torch.no_grad():
                self.running_mean.mul_(1 - factor).add_(mean, alpha=factor)
                self.running_var.mul_(1 - factor).add_(var * (n / (n - 1)), alpha=factor)
        return y

    def _running_factor(self) -> float:
        """Count this batch and return the running statistics' update weight, as ``nn.BatchNorm`` does
        (``momentum``, or 1 / batches seen for a cumulative average when ``momentum`` is None)."""
        if not self.track_running_stats or self.num_batches_tracked is None:
            return 0.0
        self.num_batches_tracked.add_(1)
        return 1.0 / float(self.num_batches_tracked) if self.momentum is None else float(self.momentum)


def synchronised(layer: _BatchNorm, kind: type[_BatchNorm]) -> _BatchNorm:
    """A ``kind`` layer holding ``layer``'s very parameters and buffers (the optimizer's tensors): what it
    learns and the statistics it keeps are ``layer``'s."""
    synced = kind(layer.num_features, layer.eps, layer.momentum, layer.affine, layer.track_running_stats)
    synced.weight, synced.bias = layer.weight, layer.bias
    synced.running_mean, synced.running_var = layer.running_mean, layer.running_var
    synced.num_batches_tracked = layer.num_batches_tracked
    return synced.train(layer.training)


@contextlib.contextmanager
def global_batch_norm(model: nn.Module, device: torch.device, ctx: DistContext) -> Iterator[None]:
    """While the block runs, ``model``'s BatchNorm layers normalise with the global batch's statistics
    (nothing changes in one process); afterwards the model holds its own layers again, trained.

    A BatchNorm subclass with a forward of its own (timm's BatchNormAct2d) is left per process, and rank 0
    says so in one line: it normalises with each rank's block, which only approximates one process.
    """
    if not ctx.enabled:
        yield
        return
    kind = nn.SyncBatchNorm if device.type == "cuda" else GlobalBatchNorm
    swapped, left = [], []
    for name, parent in list(model.named_modules()):
        for child_name, child in list(parent.named_children()):
            if type(child) in PLAIN:
                setattr(parent, child_name, synchronised(child, kind))
                swapped.append((parent, child_name, child))
            elif isinstance(child, _BatchNorm) and not isinstance(child, (GlobalBatchNorm, nn.SyncBatchNorm)):
                left.append(f"{name}.{child_name}".lstrip(".") + f" ({type(child).__name__})")
    if left and ctx.is_main:
        warn(
            f"warning: {len(left)} BatchNorm layer(s) of a type noisereg cannot synchronise normalise with each "
            f"process's share of the batch, so {ctx.world_size} processes only approximate one: {', '.join(left[:3])}"
            + (", ..." if len(left) > 3 else "")
        )
    try:
        yield
    finally:
        for parent, child_name, child in swapped:
            setattr(parent, child_name, child)
