"""Run by tests/test_distributed.py under ``torchrun``: the frozen scheme on real PNG files, each rank
extracting its rows into one shared feature cache, then evaluated on the test split; once with the
backbone as created and once fine-tuned first (BatchNorm statistics differ per rank on CPU).
Rank 0 writes the test scores to ``scores.json``; last, ``noisereg evaluate`` scores the first run's
checkpoint on the test split in the same two processes (it leaves the process group)."""

import json
import sys
from pathlib import Path

import torch

from noisereg.config import TrainConfig
from noisereg.distributed import init_from_env, shutdown

STEPS = (0, 4)  # backbone fine-tuning steps of the two runs


def config(backbone_steps: int, cache_dir: Path) -> TrainConfig:
    return TrainConfig(
        scheme="frozen",
        backbone="small-cnn",
        backbone_steps=backbone_steps,
        steps=30,
        batch_size=10,
        image_size=16,
        hidden=16,
        lr=3e-3,
        seed=0,
        quiet=True,
        device="cpu",
        eval_every=10,
        patience=0,
        cache_dir=str(cache_dir),
    )


def run(manifest: str, out: Path, cache_dir: Path, backbone_steps: int) -> dict:
    """Train on the manifest's train split (val validates), score the test split."""
    from noisereg.data.manifest import read_table
    from noisereg.train import evaluate, fit

    table = read_table(manifest)
    train, val, test = (table.to_labelled_set(s) for s in ("train", "val", "test"))
    result = fit(train, config(backbone_steps, cache_dir), eval_set=val, out=out)
    return evaluate(result.model, test, result.preprocess, device=torch.device("cpu"))


if __name__ == "__main__":
    manifest, work = sys.argv[1], Path(sys.argv[2])
    torch.set_num_threads(1)
    ctx = init_from_env("cpu")
    scores = {str(s): run(manifest, work / f"run{s}", work / "cache", s) for s in STEPS}
    if ctx.is_main:
        (work / "scores.json").write_text(json.dumps(scores))
    from noisereg.cli import exit_process, main

    code = main(
        [
            "evaluate",
            "--checkpoint",
            str(work / "run0"),
            "--manifest",
            manifest,
            "--split",
            "test",
            "--json",
            "--device",
            "cpu",
        ]
    )
    shutdown()
    exit_process(code)  # what the console script does: no gloo teardown abort at interpreter exit
