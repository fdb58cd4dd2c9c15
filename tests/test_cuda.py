"""On a CUDA GPU: training under mixed precision (bfloat16 and float16 with loss scaling) for both
schemes, a checkpoint written on the GPU that scores the same on the CPU, the estimator on the GPU and
compiled training. Skipped where no GPU is present (CI has none); run on a GPU with
``pytest tests/test_cuda.py``."""

import json

import numpy as np
import pytest
import torch
from tests.test_cli import TRAIN

from noisereg import NoiseRegClassifier
from noisereg.cli import main

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.mark.parametrize("scheme,dtype", [("frozen", "bfloat16"), ("end-to-end", "float16")])
def test_train_on_the_gpu_score_on_both(digit_folder, tmp_path, capsys, scheme, dtype):
    out = tmp_path / "run"
    assert (
        main(
            [
                "train",
                "--manifest",
                str(digit_folder),
                "--out",
                str(out),
                "--scheme",
                scheme,
                "--lr",
                "3e-3",
                "--device",
                "cuda",
                "--amp-dtype",
                dtype,
                *TRAIN,
            ]
        )
        == 0
    )
    capsys.readouterr()
    scores = {}
    for device in ("cuda", "cpu"):
        assert (
            main(["evaluate", "--checkpoint", str(out), "--manifest", str(digit_folder), "--json", "--device", device])
            == 0
        )
        scores[device] = json.loads(capsys.readouterr().out)
    assert scores["cuda"]["top1"] > 1 / 3  # learned something on 3 classes
    assert abs(scores["cuda"]["mAP"] - scores["cpu"]["mAP"]) < 0.02  # autocast vs float32: the same model


def test_estimator_fits_and_predicts_on_the_gpu():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 600)
    x = (rng.normal(size=(600, 8)) + 2.5 * np.eye(3, 8)[y]).astype(np.float32)
    noisy = np.where(rng.random(600) < 0.3, (y + 1) % 3, y)
    est = NoiseRegClassifier(method="proposed", device="cuda", epochs=20, lr=1e-2, hidden=32, patience=0)
    est.fit(x[:450], noisy[:450], clean=(x[450:500], y[450:500]))
    proba = est.predict_proba(x[500:])  # on the GPU
    assert est.score(x[500:], y[500:]) > 0.8
    est.set_params(device="cpu")  # a model fitted on the GPU predicts the same on the CPU
    np.testing.assert_allclose(est.predict_proba(x[500:]), proba, atol=0.02)  # autocast vs float32


def test_compiled_training_on_the_gpu(digit_folder, tmp_path, capsys):
    out = tmp_path / "run"
    assert (
        main(["train", "--manifest", str(digit_folder), "--out", str(out), "--device", "cuda", "--compile", *TRAIN])
        == 0
    )
    assert (out / "model.safetensors").is_file()
