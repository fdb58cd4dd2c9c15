"""Run by tests/test_distributed.py under ``torchrun``: BatchNorm layers swapped by ``global_batch_norm`` on
each rank's block of a batch against plain BatchNorm on the whole batch in this process; each rank writes
the largest differences (outputs, input and parameter gradients, running statistics) to ``rank<R>.json``."""

import json
import sys
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn

from noisereg.distributed import init_from_env, shard, shutdown
from noisereg.models.batchnorm import global_batch_norm


class OwnForward(nn.BatchNorm1d):
    """A BatchNorm subclass with a forward of its own (as timm's BatchNormAct2d): left per process."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(super().forward(x))


def model() -> nn.Sequential:
    """BatchNorm2d with a cumulative average (momentum None) and BatchNorm1d, affine weights not 1 and 0."""
    torch.manual_seed(1)
    net = nn.Sequential(nn.BatchNorm2d(4, momentum=None), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.BatchNorm1d(4))
    for p in net.parameters():
        nn.init.uniform_(p, 0.5, 1.5)
    return net


def differences(ctx, n: int = 7, steps: int = 2) -> dict:
    ref, net = model(), model()
    rows = torch.as_tensor(shard(n, ctx))  # rank 0: 4 rows, rank 1: 3
    inside = []
    for step in range(steps):
        g = torch.Generator().manual_seed(step)
        x, w = torch.randn(n, 4, 5, 5, generator=g) * 3 + 2, torch.randn(n, 4, generator=g)
        full = x.clone().requires_grad_()
        y_ref = ref(full)
        (y_ref * w).square().sum().backward()
        block = x[rows].clone().requires_grad_()
        with global_batch_norm(net, torch.device("cpu"), ctx):
            inside = [type(m).__name__ for m in net]
            y = net(block)
            (y * w[rows]).square().sum().backward()
    out = {
        "out": (y - y_ref[rows]).abs().max().item(),
        "input_grad": (block.grad - full.grad[rows]).abs().max().item(),
        "inside": inside,
        "after": [type(m).__name__ for m in net],
    }
    grads = {k: p.grad.clone() for k, p in net.named_parameters()}
    for t in grads.values():
        dist.all_reduce(t)  # each rank's share of the gradient, summed: what DDP's average scales back to
    ref_grads = dict(ref.named_parameters())
    scale = max(p.grad.abs().max().item() for p in ref_grads.values())  # BatchNorm2d's bias: 0 up to rounding
    out["param_grad"] = max((t - ref_grads[k].grad).abs().max().item() for k, t in grads.items()) / scale
    buffers = dict(ref.named_buffers())
    out["running"] = max((b.double() - buffers[k].double()).abs().max().item() for k, b in net.named_buffers())
    own = nn.Sequential(nn.Linear(3, 4), OwnForward(4))
    with global_batch_norm(own, torch.device("cpu"), ctx):
        out["own_forward"] = type(own[1]).__name__
    return out


if __name__ == "__main__":
    torch.set_num_threads(1)
    ctx = init_from_env("cpu")
    result = differences(ctx)
    Path(sys.argv[1], f"rank{ctx.rank}.json").write_text(json.dumps(result))
    shutdown()
    from noisereg.cli import exit_process

    exit_process(0)
