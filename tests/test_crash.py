"""Crashes, concurrent runs and symlinks: nothing lost, nothing torn, nothing written outside --out.

The crash test kills a real training run (a tiny model on precomputed features, a checkpoint at every
step, so most of the run is spent writing checkpoints) with SIGKILL at random moments, 40 times, then
resumes each: no torn checkpoint is accepted, no temporary file is left, and the final weights are
bit-identical to an uninterrupted run. Runs are forked from a forkserver that has imported torch but
never computed, so each start costs milliseconds, not an interpreter start.
"""
from __future__ import annotations

import multiprocessing as mp
import os
import random
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from noisereg.checkpoint import KEEP_SETS, SETS_DIR, has_checkpoint, latest_complete, load_weights, set_problem
from noisereg.config import TrainConfig
from noisereg.data.labelset import LabelledSet, one_hot
from noisereg.errors import UserError

CFG = TrainConfig(steps=16, hidden=8, batch_size=16, save_every=1, eval_every=4, patience=0, quiet=True, device="cpu")
TRIES = 40


def _data() -> LabelledSet:
    rng = np.random.default_rng(0)
    n, k = 160, 3
    y = rng.integers(0, k, n)
    x = (rng.normal(size=(n, 8)) + 2.0 * np.eye(k, 8)[y]).astype(np.float32)
    is_clean = np.arange(n) % 4 == 0
    return LabelledSet(images=x, classes=list("abc"), noisy=one_hot(y, k), clean=one_hot(y, k),
                       has_noisy=~is_clean, has_clean=is_clean)


def _train(out: str, resume: bool) -> None:
    """A child process: one training run (fresh or resumed) into ``out``."""
    from noisereg.train import fit
    torch.set_num_threads(1)
    fit(_data(), CFG, out=out, resume=resume, overwrite=not resume)


def _run(ctx: mp.context.BaseContext, out: Path, resume: bool, kill_after: float | None = None) -> float:
    """Run ``_train`` in a child; SIGKILL it after ``kill_after`` seconds (None: let it finish).
    Returns the seconds it ran."""
    p = ctx.Process(target=_train, args=(str(out), resume))
    start = time.perf_counter()
    p.start()
    p.join(kill_after)
    if p.is_alive():
        p.kill()
        p.join()
    elif kill_after is None:
        assert p.exitcode == 0, f"run into {out} failed with exit code {p.exitcode}"
    return time.perf_counter() - start


def _leftovers(out: Path) -> list[str]:
    """Temporary files and staging folders an interrupted save left behind."""
    return [str(p) for p in out.rglob("*") if p.name.endswith(".tmp")]


@pytest.fixture(scope="module")
def forkserver():
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(["torch", "noisereg.train", "tests.test_crash"])
    return ctx


@pytest.mark.slow
def test_sigkill_at_random_points_then_resume_is_bit_exact(tmp_path: Path, forkserver) -> None:
    _run(forkserver, tmp_path / "warm-up", resume=False)  # starts the forkserver
    reference = tmp_path / "reference"
    seconds = _run(forkserver, reference, resume=False)
    want = load_weights(reference)
    rng = random.Random(0)
    torn_refused = interrupted_writes = 0
    for i in range(TRIES):
        out = tmp_path / f"try{i}"
        _run(forkserver, out, resume=False, kill_after=rng.uniform(0.0, seconds))
        interrupted_writes += bool(_leftovers(out))
        if has_checkpoint(out):
            try:
                folder, _ = latest_complete(out)
                assert set_problem(folder) is None  # what --resume takes verifies
            except UserError:
                pass  # killed inside the very first save: no complete set, nothing accepted
            torn_refused += (out / "checkpoint.json").is_file() and set_problem(out) is not None
        complete = has_checkpoint(out) and _has_complete(out)
        _run(forkserver, out, resume=complete)
        got = load_weights(out)
        assert got.keys() == want.keys()
        for k in want:
            assert torch.equal(got[k], want[k]), f"try {i}: {k} differs from the uninterrupted run"
        assert _leftovers(out) == [], f"try {i}: orphan files"
        sets = sorted((out / SETS_DIR).iterdir())
        assert 1 <= len(sets) <= KEEP_SETS and all(set_problem(s) is None for s in sets)
        assert set_problem(out) is None
    print(f"{TRIES} kills: {interrupted_writes} inside a checkpoint write, {torn_refused} torn top-level sets "
          f"refused; one run {seconds:.2f} s")


def _has_complete(out: Path) -> bool:
    try:
        latest_complete(out)
        return True
    except UserError:
        return False
