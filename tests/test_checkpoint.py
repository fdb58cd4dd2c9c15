import json
import math

import numpy as np
import pytest
import torch

from noisereg.checkpoint import META_FILE, MODEL_FILE, save_checkpoint
from noisereg.config import TrainConfig
from noisereg.data.labelset import LabelledSet, one_hot
from noisereg.errors import TrainingDiverged
from noisereg.train import fit, load_classifier, predict_logits


def _data(n: int = 80) -> LabelledSet:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, n)
    images = torch.rand(n, 1, 8, 8) * 0.3
    images[torch.arange(n), 0, torch.as_tensor(y) * 2, :] = 1.0  # a learnable stripe per class
    is_clean = np.arange(n) % 4 == 0
    return LabelledSet(images=images, classes=["a", "b", "c"], noisy=one_hot(y, 3), clean=one_hot(y, 3),
                       has_noisy=~is_clean, has_clean=is_clean)


CFG = TrainConfig(backbone="small-cnn", image_size=8, hidden=8, backbone_steps=4, steps=6, quiet=True, batch_size=16)


@pytest.mark.parametrize("scheme", ["end-to-end", "frozen"])
def test_round_trip_gives_the_same_predictions(tmp_path, scheme):
    data = _data()
    result = fit(data, CFG.replace(scheme=scheme), out=tmp_path)
    loaded, meta = load_classifier(tmp_path)
    assert meta["classes"] == ["a", "b", "c"] and meta["config"]["scheme"] == scheme
    pre = result.preprocess
    a = predict_logits(result.model, data.images, pre, device=torch.device("cpu"))
    b = predict_logits(loaded, data.images, pre, device=torch.device("cpu"))
    torch.testing.assert_close(a["logits"], b["logits"])
    torch.testing.assert_close(a["h_logits"], b["h_logits"])


@pytest.mark.parametrize("scheme,stage", [("end-to-end", "end-to-end"), ("frozen", "backbone"),
                                          ("frozen", "heads")])
def test_resume_continues_exactly_where_the_run_stopped(tmp_path, monkeypatch, scheme, stage):
    """Snapshot the checkpoint written at step 2 of ``stage`` (as if the run died there), resume it."""
    import shutil

    import noisereg.train.run as trainer  # where the phases save their checkpoints
    data = _data()
    cfg = CFG.replace(scheme=scheme, save_every=2)
    real_save = trainer.save_checkpoint

    def save_and_snapshot(out, model, meta, optimizer=None, last=None):
        real_save(out, model, meta, optimizer, last=last)
        if meta["stage"] == stage and meta["step"] == 2 and not (tmp_path / "cut").exists():
            shutil.copytree(out, tmp_path / "cut")

    monkeypatch.setattr(trainer, "save_checkpoint", save_and_snapshot)
    full = fit(data, cfg, out=tmp_path / "full")
    assert json.loads((tmp_path / "cut" / META_FILE).read_text())["step"] == 2
    resumed = fit(data, cfg, out=tmp_path / "cut", resume=True)
    for k, v in full.model.state_dict().items():
        torch.testing.assert_close(resumed.model.state_dict()[k], v, rtol=0, atol=0, msg=k)
    last = "end-to-end" if scheme == "end-to-end" else "heads"
    assert [r["step"] for r in resumed.history if r["stage"] == last] == list(range(1, cfg.steps + 1))


def test_files_are_safetensors_and_json(tmp_path):
    fit(_data(), CFG.replace(scheme="end-to-end"), out=tmp_path)
    assert (tmp_path / MODEL_FILE).read_bytes()[8:9] == b"{"  # safetensors header, not a pickle
    meta = json.loads((tmp_path / META_FILE).read_text())
    assert {"config", "classes", "preprocess", "step", "stage", "history"} <= set(meta)
    assert not list(tmp_path.glob("*.tmp"))


def test_a_diverged_model_never_replaces_a_good_checkpoint(tmp_path):
    data = _data()
    fit(data, CFG.replace(scheme="end-to-end"), out=tmp_path)
    good = (tmp_path / MODEL_FILE).read_bytes()
    model, meta = load_classifier(tmp_path)
    with torch.no_grad():
        next(model.parameters()).fill_(math.nan)
    with pytest.raises(TrainingDiverged, match="not finite"):
        save_checkpoint(tmp_path, model, meta)
    assert (tmp_path / MODEL_FILE).read_bytes() == good
    assert not list(tmp_path.glob(".*.tmp"))


def test_nan_loss_stops_training_with_a_clear_error_and_keeps_the_checkpoint(tmp_path):
    data = _data()
    fit(data, CFG.replace(scheme="end-to-end"), out=tmp_path)
    good = (tmp_path / MODEL_FILE).read_bytes()
    bad = LabelledSet(images=data.images * float("nan"), classes=data.classes, noisy=data.noisy,
                      clean=data.clean, has_noisy=data.has_noisy, has_clean=data.has_clean)
    with pytest.raises(TrainingDiverged, match="loss became nan at step 1"):
        fit(bad, CFG.replace(scheme="end-to-end", steps=20), out=tmp_path, overwrite=True)
    assert (tmp_path / MODEL_FILE).read_bytes() == good


def test_the_backbones_own_preprocessing_is_recorded_and_kept_on_load(tmp_path):
    """resnet18's resize (256/224 of the crop) is recorded; a loaded model is fed as recorded at
    training, also a checkpoint written before the resize was recorded (resize = crop)."""
    data = _data(24)
    cfg = CFG.replace(backbone="resnet18", pretrained=False, image_size=32, backbone_steps=0, steps=2)
    result = fit(data, cfg, out=tmp_path / "run")
    recorded = json.loads((tmp_path / "run" / META_FILE).read_text())["preprocess"]
    assert (recorded["image_size"], recorded["resize_size"], recorded["mean"]) == (32, 36, [0.485, 0.456, 0.406])
    assert load_classifier(tmp_path / "run")[0].backbone.preprocess == result.preprocess
    old = {k: v for k, v in recorded.items() if k != "resize_size"}
    save_checkpoint(tmp_path / "old", result.model, {**result.meta, "preprocess": old})
    assert load_classifier(tmp_path / "old")[0].backbone.preprocess.resize == 32
