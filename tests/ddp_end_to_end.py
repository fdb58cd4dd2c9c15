"""Run by tests/test_distributed.py under ``torchrun``: the end-to-end scheme on the digits demo data, the
small CNN's BatchNorm layers trained on each rank's block of the global batch; rank 0 saves."""

import sys

import torch

from noisereg.config import TrainConfig
from noisereg.distributed import init_from_env, shutdown
from noisereg.tasks.digits import digits_single_label


def config() -> TrainConfig:
    """A trained backbone with BatchNorm (the small CNN) and the heads of ``proposed``; batch 32 at a clean
    share of 0.1 (the ranks' blocks: 3 clean + 13 noisy, 16 noisy), no validation (the last step kept)."""
    return TrainConfig(
        method="proposed",
        scheme="end-to-end",
        backbone="small-cnn",
        pretrained=False,
        steps=12,
        batch_size=32,
        clean_ratio=0.1,
        image_size=8,
        hidden=32,
        lr=3e-3,
        seed=0,
        quiet=True,
        device="cpu",
        val_fraction=0.0,
    )


if __name__ == "__main__":
    from noisereg.train import fit

    torch.set_num_threads(1)
    init_from_env("cpu")
    fit(digits_single_label(seed=0).train, config(), out=sys.argv[1])
    shutdown()
    from noisereg.cli import exit_process

    exit_process(0)  # as the console script leaves: no gloo teardown abort at interpreter exit
