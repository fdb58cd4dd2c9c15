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

CFG = TrainConfig(
    backbone="small-cnn",
    steps=16,
    hidden=8,
    batch_size=16,
    save_every=1,
    eval_every=4,
    patience=0,
    quiet=True,
    device="cpu",
)
TRIES = 40


def _data() -> LabelledSet:
    rng = np.random.default_rng(0)
    n, k = 160, 3
    y = rng.integers(0, k, n)
    x = (rng.normal(size=(n, 8)) + 2.0 * np.eye(k, 8)[y]).astype(np.float32)
    is_clean = np.arange(n) % 4 == 0
    return LabelledSet(
        images=x, classes=list("abc"), noisy=one_hot(y, k), clean=one_hot(y, k), has_noisy=~is_clean, has_clean=is_clean
    )


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
    print(
        f"{TRIES} kills: {interrupted_writes} inside a checkpoint write, {torn_refused} torn top-level sets "
        f"refused; one run {seconds:.2f} s"
    )


def _has_complete(out: Path) -> bool:
    try:
        latest_complete(out)
        return True
    except UserError:
        return False


def _hold_lock(out: str, seconds: float) -> None:
    """A child process: hold ``out``'s lock as a training run does."""
    from noisereg.safe_io import OutputLock

    with OutputLock(out):
        time.sleep(seconds)


def test_a_second_run_on_the_same_folder_is_refused_naming_the_first(
    tmp_path: Path, digit_folder: Path, capsys, forkserver
) -> None:
    from noisereg.cli import main
    from noisereg.safe_io import LOCK_FILE

    out = tmp_path / "run"
    holder = forkserver.Process(target=_hold_lock, args=(str(out), 60.0))
    holder.start()
    try:
        deadline = time.time() + 30
        while f"pid {holder.pid} " not in ((out / LOCK_FILE).read_text() if (out / LOCK_FILE).is_file() else ""):
            assert time.time() < deadline, "the first run never took the lock"
            time.sleep(0.05)
        train = [
            "train",
            "--manifest",
            str(digit_folder),
            "--out",
            str(out),
            "--scheme",
            "end-to-end",
            "--backbone",
            "small-cnn",
            "--image-size",
            "8",
            "--hidden",
            "8",
            "--steps",
            "3",
            "--batch-size",
            "8",
            "--quiet",
        ]
        assert main(train) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("noisereg: error: ") and f"in use by another run (pid {holder.pid} on " in err
        assert not (out / "checkpoint.json").exists() and not (out / "config.yaml").exists()
    finally:
        holder.kill()
        holder.join()
    assert main(train) == 0  # the lock dies with its holder: no stale lock to clean by hand
    assert main(train) == 2 and "already holds a checkpoint" in capsys.readouterr().err


def test_writes_never_follow_a_symlink_out_of_the_output_folder(tmp_path: Path, digit_folder: Path, capsys) -> None:
    from noisereg.cli import main

    outside = tmp_path / "outside"
    outside.mkdir()
    victims = {name: outside / name for name in ("config.yaml", "metrics.csv", "model.safetensors", "p.csv")}
    for v in victims.values():
        v.write_text("precious\n")
    out = tmp_path / "run"
    out.mkdir()
    for name in ("config.yaml", "metrics.csv", "model.safetensors"):
        (out / name).symlink_to(victims[name])
    (out / "p.csv").symlink_to(victims["p.csv"])  # an existing --out: replaced with --overwrite
    train = [
        "train",
        "--manifest",
        str(digit_folder),
        "--out",
        str(out),
        "--scheme",
        "end-to-end",
        "--backbone",
        "small-cnn",
        "--image-size",
        "8",
        "--hidden",
        "8",
        "--steps",
        "3",
        "--batch-size",
        "8",
        "--quiet",
    ]
    assert main(train) == 0
    assert (
        main(
            [
                "predict",
                "--checkpoint",
                str(out),
                str(digit_folder.parent / "img" / "7_0.png"),
                "--out",
                str(out / "p.csv"),
                "--overwrite",
            ]
        )
        == 0
    )
    assert all(v.read_text() == "precious\n" for v in victims.values())
    assert not any((out / name).is_symlink() for name in victims)  # replaced, not written through
    assert not list(out.glob(".*.tmp"))

    other = tmp_path / "other"
    other.mkdir()
    (other / "checkpoints").symlink_to(outside, target_is_directory=True)  # a set folder pointing outside
    assert main(train[:4] + [str(other)] + train[5:]) == 2
    assert "symlink" in capsys.readouterr().err and sorted(p.name for p in outside.iterdir()) == sorted(victims)


def test_resume_skips_a_corrupted_newest_checkpoint_and_ends_bit_exact(tmp_path: Path, capsys) -> None:
    """The newest set's last.safetensors flipped in place (as by a disk): the load refuses it, --resume
    says it skips it, continues from the set before, and ends with the uninterrupted run's weights."""
    from noisereg.checkpoint import MODEL_FILE, read_meta
    from noisereg.train import fit

    cfg = CFG.replace(steps=8)
    fit(_data(), cfg, out=tmp_path / "reference")
    out = tmp_path / "run"
    fit(_data(), cfg.replace(steps=8), out=out)
    newest = sorted((out / SETS_DIR).iterdir())[-1]
    with open(newest / "last.safetensors", "r+b") as f:  # in place: the published hard link changes too
        f.seek(-3, os.SEEK_END)
        byte = f.read(1)
        f.seek(-3, os.SEEK_END)
        f.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(UserError, match="SHA-256"):
        read_meta(out)
    capsys.readouterr()
    fit(_data(), cfg, out=out, resume=True)
    assert "skipped a checkpoint set" in capsys.readouterr().out
    want, got = load_weights(tmp_path / "reference"), load_weights(out)
    assert all(torch.equal(got[k], want[k]) for k in want)
    assert load_weights(out, MODEL_FILE).keys() == want.keys() and set_problem(out) is None
