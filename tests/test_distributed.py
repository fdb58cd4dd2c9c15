"""torchrun with 2 CPU processes (gloo) gives the single-process result of the same global batch."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from noisereg.data.sampler import MixedBatchSampler
from noisereg.features import weights_hash
from noisereg.tasks.digits import digits_single_label
from noisereg.train import fit, load_classifier

HERE = Path(__file__).resolve().parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# failures of a launch that are not the code under test: the rendezvous losing a port picked as free
# (a rank aborting in gloo teardown at interpreter exit is the code's: ``noisereg.cli.exit_process``)
TRANSIENT = ("address already in use", "failed to listen")


def _torchrun(*args: str, timeout: int = 240, launches: int = 4) -> subprocess.CompletedProcess:
    """2 local processes on loopback, on a port that is free now.

    A failed launch gets a second one (on a new port), as before; later ones only when it failed in one
    of the ``TRANSIENT`` ways. A real bug fails every launch and the test reports the last one's output.
    """
    path = os.pathsep.join([str(HERE.parent / "src"), str(HERE.parent)])  # this checkout's code, its tests/
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": path}
    for launch in range(launches):
        cmd = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nnodes",
            "1",
            "--nproc-per-node",
            "2",
            "--master-addr",
            "127.0.0.1",
            "--master-port",
            str(_free_port()),
            *args,
        ]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
        if result.returncode == 0 or (launch > 0 and not any(t in result.stderr.lower() for t in TRANSIENT)):
            break
    return result


def test_ranks_share_the_global_batch_one_process_draws():
    clean, noisy = np.arange(10), np.arange(10, 300)
    single = MixedBatchSampler(clean, noisy, batch_size=32, clean_ratio=0.1, seed=5)
    ranks = [
        MixedBatchSampler(clean, noisy, batch_size=32, clean_ratio=0.1, seed=5, rank=r, world_size=2) for r in range(2)
    ]
    for t in range(5):
        parts = [s.batch(t) for s in ranks]
        assert [(len(p.clean), len(p.noisy)) for p in parts] == [(3, 13), (0, 16)]
        np.testing.assert_array_equal(np.concatenate([p.clean for p in parts]), single.batch(t).clean)
        np.testing.assert_array_equal(np.concatenate([p.noisy for p in parts]), single.batch(t).noisy)


@pytest.mark.slow
def test_two_gloo_processes_match_one_process(tmp_path):
    """Batch 32 at a clean share of 0.1 (3 clean + 29 noisy: the ranks' blocks hold 3 + 13 and 16): two
    processes end with one process's weights, for the method and for MW-Net, whose meta step differentiates
    through a virtual update on the whole batch."""
    from tests.ddp_fit import METHODS, config

    r = _torchrun(str(HERE / "ddp_fit.py"), str(tmp_path / "ddp"))
    assert r.returncode == 0, r.stderr[-3000:]
    task = digits_single_label(seed=0)
    for method in METHODS:
        single = fit(task.train, config(method), eval_set=task.test)
        ddp, meta = load_classifier(tmp_path / "ddp" / method)
        for k, v in single.model.state_dict().items():
            torch.testing.assert_close(ddp.state_dict()[k], v, rtol=1e-4, atol=1e-5, msg=f"{method}: {k}")
        evals = [h["val_top1"] for h in meta["history"] if "val_top1" in h]
        assert evals and evals[-1] == pytest.approx(single.history[-1]["val_top1"], abs=1e-6)
        assert [h["loss"] for h in meta["history"]] == pytest.approx([h["loss"] for h in single.history], rel=1e-4)


@pytest.mark.slow
def test_two_gloo_processes_train_a_batchnorm_backbone_as_one_process(tmp_path):
    """End to end, the small CNN trained on each rank's block (3 clean + 13 noisy rows, 16 noisy): with the
    global batch's BatchNorm statistics two processes end with one process's weights, running statistics
    and losses, up to float rounding (per-rank statistics: weights and running statistics 4-100% apart).
    12 steps: over longer runs the rounding grows as between 1 and 2 threads of one process."""
    from tests.ddp_end_to_end import config

    r = _torchrun(str(HERE / "ddp_end_to_end.py"), str(tmp_path / "ddp"))
    assert r.returncode == 0, r.stderr[-3000:]
    single = fit(digits_single_label(seed=0).train, config())
    ddp, meta = load_classifier(tmp_path / "ddp")
    for k, v in single.model.state_dict().items():
        torch.testing.assert_close(ddp.state_dict()[k], v, rtol=1e-3, atol=1e-4, msg=k)
    assert [h["loss"] for h in meta["history"]] == pytest.approx([h["loss"] for h in single.history], rel=1e-5)


@pytest.mark.slow
def test_batchnorm_layers_normalise_with_the_global_batch_on_cpu(tmp_path):
    """Swapped layers on 4 + 3 rows against nn.BatchNorm on the 7 rows, over 2 steps: the same outputs,
    input gradients, summed parameter gradients and running statistics (a cumulative average too), the
    model's own layers back afterwards; a subclass with its own forward is left as it is, and said so."""
    r = _torchrun(str(HERE / "ddp_batchnorm.py"), str(tmp_path))
    assert r.returncode == 0, r.stderr[-3000:]
    for rank in (0, 1):
        d = json.loads((tmp_path / f"rank{rank}.json").read_text())
        assert d["inside"] == ["GlobalBatchNorm", "AdaptiveAvgPool2d", "Flatten", "GlobalBatchNorm"], d
        assert d["after"] == ["BatchNorm2d", "AdaptiveAvgPool2d", "Flatten", "BatchNorm1d"], d
        assert d["out"] < 1e-5 and d["input_grad"] < 1e-4 and d["param_grad"] < 1e-5 and d["running"] < 1e-5, d
        assert d["own_forward"] == "OwnForward"
    assert r.stderr.count("cannot synchronise") == 1 and "1 (OwnForward)" in r.stderr  # rank 0 says it once


@pytest.mark.slow
def test_torchrun_cli_end_to_end_writes_one_checkpoint(digit_folder, tmp_path):
    out = tmp_path / "run"
    r = _torchrun(
        "-m",
        "noisereg",
        "train",
        "--manifest",
        str(digit_folder),
        "--out",
        str(out),
        "--scheme",
        "end-to-end",
        "--backbone",
        "small-cnn",
        "--steps",
        "12",
        "--batch-size",
        "10",
        "--image-size",
        "16",
        "--hidden",
        "8",
        "--device",
        "cpu",
        "--patience",
        "0",
        "--quiet",
    )
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.count("checkpoint in") == 1, r.stdout + r.stderr[-2000:]  # only rank 0 reports and writes
    meta = json.loads((out / "checkpoint.json").read_text())
    assert meta["step"] == 12 and len(meta["history"]) == 12
    suspects = (out / "label_issues.csv").read_text().splitlines()  # every rank scored, rank 0 wrote
    assert len(suspects) > 1 and suspects[0].startswith("path,")


@pytest.mark.slow
@pytest.mark.parametrize("scheme", ["frozen", "end-to-end"])
def test_torchrun_trains_the_top_of_the_backbone_on_cached_trunk_activations(digit_folder, tmp_path, scheme):
    """``--train-blocks`` under two processes: the ranks compute their blocks of the trunk's activations, the top
    trains under DDP (in stage one, or end to end), and rank 0 alone writes the one checkpoint."""
    out = tmp_path / "run"
    flags = ["--scheme", scheme, "--backbone", "small-cnn", "--train-blocks", "2", "--backbone-steps", "6"]
    r = _torchrun(
        "-m",
        "noisereg",
        "train",
        "--manifest",
        str(digit_folder),
        "--out",
        str(out),
        *flags,
        "--steps",
        "6",
        "--batch-size",
        "10",
        "--image-size",
        "16",
        "--hidden",
        "8",
        "--device",
        "cpu",
        "--patience",
        "0",
        "--quiet",
    )
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.count("checkpoint in") == 1, r.stdout + r.stderr[-2000:]
    meta = json.loads((out / "checkpoint.json").read_text())
    assert meta["config"]["train_blocks"] == 2
    assert {h["stage"] for h in meta["history"]} >= ({"backbone"} if scheme == "frozen" else {"end-to-end"})


@pytest.fixture(scope="module")
def frozen_ddp(tmp_path_factory) -> Path:
    """One 2-process launch of tests/ddp_frozen.py on a folder of real PNG digits: its work folder."""
    from tests.conftest import write_digit_folder

    work = tmp_path_factory.mktemp("ddp-frozen")
    manifest = write_digit_folder(work / "data")
    r = _torchrun(str(HERE / "ddp_frozen.py"), str(manifest), str(work))
    assert r.returncode == 0, r.stderr[-3000:]
    (work / "stdout.txt").write_text(r.stdout)
    return work


@pytest.mark.slow
def test_two_ranks_extract_into_one_cache_and_evaluate_like_one_process(frozen_ddp, tmp_path):
    from tests.ddp_frozen import run

    ddp = json.loads((frozen_ddp / "scores.json").read_text())["0"]
    single = run(str(frozen_ddp / "data" / "manifest.csv"), tmp_path / "run", tmp_path / "cache", 0)
    assert abs(ddp["top1"] - single["top1"]) <= 0.02, (ddp, single)
    assert ddp["mAP"] == pytest.approx(single["mAP"], abs=0.02)
    for index in (tmp_path / "cache").glob("*.json"):  # the same keys: the rows both ranks wrote match
        shared = np.load(frozen_ddp / "cache" / index.with_suffix(".npy").name)
        np.testing.assert_allclose(
            shared.astype(np.float32), np.load(index.with_suffix(".npy")).astype(np.float32), rtol=1e-2, atol=1e-3
        )
    assert not list((frozen_ddp / "cache").glob(".*"))  # no temporary file left
    left = [p.name for p in (frozen_ddp / "run0").glob(".*")]
    assert (frozen_ddp / "run0" / "checkpoint.json").is_file() and left == [".noisereg.lock"]  # the run's lock file
    lines = (frozen_ddp / "stdout.txt").read_text().splitlines()
    printed = [json.loads(line) for line in lines if line.startswith("{")]
    assert len(printed) == 1  # `noisereg evaluate` under torchrun: the ranks share the work, rank 0 reports
    assert printed[0]["top1"] == pytest.approx(ddp["top1"]) and printed[0]["mAP"] == pytest.approx(ddp["mAP"])


@pytest.mark.slow
def test_a_fine_tuned_backbone_is_agreed_on_before_extraction(frozen_ddp):
    scores = json.loads((frozen_ddp / "scores.json").read_text())["4"]
    assert 0 <= scores["top1"] <= 1 and scores["mAP"] > 0  # the run finished and evaluated
    keys = [json.loads(p.read_text())["key"] for p in (frozen_ddp / "cache").glob("*.json")]
    assert len(keys) == 4  # train + val, for each of the two backbones: one cache each, both ranks' rows in it
    model, meta = load_classifier(frozen_ddp / "run4")
    assert meta["step"] == 30
    assert weights_hash(model.backbone) in {k["weights_sha256"] for k in keys}  # rank 0's saved backbone made it
