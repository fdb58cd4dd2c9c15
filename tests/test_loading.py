"""Loading a checkpoint needs nothing that only training needed: a run trained with --tensorboard and a
feature cache is evaluated, predicted on, exported, searched for label issues, reported and loaded as
an estimator in a Python where tensorboard and optuna are not installed, its cache folder deleted."""

import json
import shutil
import subprocess
import sys

import pytest
from tests.conftest import write_digit_folder

from noisereg.cli import main

MISSING = ["tensorboard", "optuna"]
# a fresh interpreter in which importing MISSING fails and find_spec finds none of them, as when they
# are not installed; it runs the commands given as JSON and loads the estimator, then says what it got
LOADER = f"""
import json, sys
sys.modules.update(dict.fromkeys({MISSING!r}))
from noisereg import NoiseRegClassifier
from noisereg.cli import main
codes = [main(argv) for argv in json.loads(sys.argv[1])]
classes = [str(c) for c in NoiseRegClassifier.load(sys.argv[2]).classes_]
print(json.dumps({{"codes": codes, "classes": classes}}))
"""


@pytest.mark.slow
def test_a_checkpoint_loads_without_tensorboard_optuna_or_its_cache(tmp_path):
    pytest.importorskip("tensorboard", reason="training with --tensorboard needs it (pip install tensorboard)")
    manifest, run, cache = str(write_digit_folder(tmp_path / "data")), tmp_path / "run", tmp_path / "cache"
    assert (
        main(
            [
                "train",
                "--manifest",
                manifest,
                "--out",
                str(run),
                "--tensorboard",
                "--cache-dir",
                str(cache),
                "--backbone",
                "small-cnn",
                "--backbone-steps",
                "0",
                "--steps",
                "6",
                "--image-size",
                "16",
                "--hidden",
                "8",
                "--quiet",
            ]
        )
        == 0
    )
    assert (run / "tensorboard").is_dir() and cache.is_dir()
    shutil.rmtree(cache)
    (run / "label_issues.csv").unlink()  # so that `report` runs the label-issue finder again
    commands = [
        ["evaluate", "--checkpoint", str(run), "--manifest", manifest, "--split", "test"],
        ["predict", "--checkpoint", str(run), str(tmp_path / "data" / "img"), "--out", str(tmp_path / "p.csv")],
        ["export", "--checkpoint", str(run), "--format", "torchscript", "--out", str(tmp_path / "g.pt")],
        ["find-label-issues", "--checkpoint", str(run), "--manifest", manifest, "--out", str(tmp_path / "issues.csv")],
        ["report", str(run)],
    ]
    proc = subprocess.run(
        [sys.executable, "-c", LOADER, json.dumps(commands), str(run)], capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.splitlines()[-1]) == {"codes": [0] * len(commands), "classes": ["0", "1", "7"]}
    assert (run / "label_issues.csv").is_file() and not cache.exists()  # found again, with no cache rebuilt


def test_training_with_tensorboard_missing_is_still_refused_before_any_work(tmp_path, capsys, monkeypatch):
    """The check moved from the config to where training starts: ``train`` still stops in one line, before
    the output folder is created."""
    for name in MISSING:
        monkeypatch.setitem(sys.modules, name, None)
    manifest = write_digit_folder(tmp_path / "data")
    assert main(["train", "--manifest", str(manifest), "--out", str(tmp_path / "run"), "--tensorboard"]) == 2
    assert capsys.readouterr().err.strip() == (
        "noisereg: error: --tensorboard needs the tensorboard package: pip install tensorboard"
    )
    assert not (tmp_path / "run").exists()
