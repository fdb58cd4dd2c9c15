"""Run by tests/test_distributed.py under ``torchrun``: fit on the digits demo data, rank 0 saves."""

import sys

import torch

from noisereg.config import TrainConfig
from noisereg.distributed import init_from_env, shutdown
from noisereg.tasks.digits import digits_single_label

METHODS = ("proposed", "mw-net")


def config(method: str) -> TrainConfig:
    """Heads on frozen features (no BatchNorm in the trained part, so ranks must match exactly); batch 32
    at a clean share of 0.1, whose 3 clean rows do not split over 2 ranks."""
    return TrainConfig(
        method=method,
        scheme="frozen",
        backbone="small-cnn",
        backbone_steps=0,
        steps=40,
        batch_size=32,
        clean_ratio=0.1,
        image_size=8,
        hidden=32,
        lr=3e-3,
        seed=0,
        quiet=True,
        device="cpu",
        eval_every=20,
    )


if __name__ == "__main__":
    from noisereg.train import fit

    torch.set_num_threads(1)
    ctx = init_from_env("cpu")
    task = digits_single_label(seed=0)
    for method in METHODS:
        fit(task.train, config(method), eval_set=task.test, out=f"{sys.argv[1]}/{method}")
    shutdown()
    from noisereg.cli import exit_process

    exit_process(0)  # as the console script leaves: no gloo teardown abort at interpreter exit
