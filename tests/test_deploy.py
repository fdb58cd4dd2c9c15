"""After training: `noisereg predict` over files, folders and globs (CSV / JSON lines, unreadable files
reported, the rest predicted) and `noisereg export` (ONNX and TorchScript match PyTorch to 1e-4)."""

import json

import numpy as np
import pandas as pd
import pytest
import torch

from noisereg import NoiseRegClassifier
from noisereg.cli import main

CLASSES = ["0", "1", "7"]


def test_predict_writes_one_row_per_image_and_reports_unreadable_files(folder_model, tmp_path, capsys):
    folders, est, ckpt = folder_model
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not a jpeg")
    out = tmp_path / "pred.csv"
    argv = [
        "predict",
        "--checkpoint",
        str(ckpt),
        str(folders["test"]),
        str(bad),
        str(folders["val"] / "7" / "*.png"),
        "--out",
        str(out),
        "--batch-size",
        "4",
    ]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "22 images predicted, 1 unreadable" in captured.out
    assert captured.err.count("\n") == 1
    assert "skipped: cannot read image" in captured.err and "broken.jpg" in captured.err

    frame = pd.read_csv(out, keep_default_na=False)
    assert list(frame.columns) == ["path", "predicted", *CLASSES, "error"] and len(frame) == 18 + 1 + 4
    broken = frame[frame.path == str(bad)].iloc[0]
    assert broken.error.startswith("cannot read image") and broken.predicted == "" and broken["0"] == ""
    ok = frame[frame.error == ""]
    np.testing.assert_allclose(ok[CLASSES].astype(float).to_numpy(), est.predict_proba(list(ok.path)), rtol=1e-5)
    assert (ok.predicted == est.predict(list(ok.path))).all()


def test_predict_on_a_flat_folder_reads_every_image_whatever_its_subfolders(folder_model, tmp_path, capsys):
    folders, est, ckpt = folder_model
    flat, png = tmp_path / "flat", next((folders["test"] / "7").glob("*.png")).read_bytes()
    for name in ("a.png", "b.png", "sub/c.png", "__MACOSX/._a.png"):
        (flat / name).parent.mkdir(parents=True, exist_ok=True)
        (flat / name).write_bytes(png)
    (flat / ".ipynb_checkpoints").mkdir()
    assert main(["predict", "--checkpoint", str(ckpt), str(flat), "--out", str(tmp_path / "p.csv")]) == 0
    frame = pd.read_csv(tmp_path / "p.csv", keep_default_na=False)
    assert list(frame.path) == [str(flat / n) for n in ("a.png", "b.png", "sub/c.png")] and (frame.error == "").all()
    assert len(est.predict(str(flat))) == 3  # the Python API reads the folder the same way


def test_predict_and_export_replace_an_existing_output_only_with_overwrite(folder_model, tmp_path, capsys):
    folders, _, ckpt = folder_model
    out, image = tmp_path / "p.jsonl", str(next((folders["test"] / "0").glob("*.png")))
    out.write_text("earlier\n")
    assert main(["predict", "--checkpoint", str(ckpt), image, "--out", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err and out.read_text() == "earlier\n"
    assert main(["predict", "--checkpoint", str(ckpt), image, "--out", str(out), "--overwrite"]) == 0
    assert json.loads(out.read_text().splitlines()[0])["path"] == image
    (tmp_path / "g.json").write_text("{}")  # export's deployment info, from an earlier export
    argv = ["export", "--checkpoint", str(ckpt), "--format", "torchscript", "--out", str(tmp_path / "g.pt")]
    assert main(argv) == 2 and "g.json already exists" in capsys.readouterr().err
    assert not (tmp_path / "g.pt").exists()
    assert main(argv + ["--overwrite"]) == 0 and json.loads((tmp_path / "g.json").read_text())["classes"] == CLASSES


def test_predict_top_k_threshold_and_json_lines(folder_model, capsys):
    folders, est, ckpt = folder_model
    images = str(folders["val"] / "*" / "*.png")
    assert main(["predict", "--checkpoint", str(ckpt), images, "--top-k", "2", "--format", "jsonl"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(rows) == 12 and set(rows[0]) == {"path", "predicted", *CLASSES, "error"}
    for r in rows:  # the two best classes, best first
        best = sorted(CLASSES, key=lambda c: -r[c])
        assert r["predicted"] == ";".join(best[:2])
    assert main(["predict", "--checkpoint", str(ckpt), images, "--threshold", "0.34"]) == 0
    frame = pd.read_csv(__import__("io").StringIO(capsys.readouterr().out), keep_default_na=False)
    for _, r in frame.iterrows():
        assert r.predicted.split(";") == [c for c in sorted(CLASSES, key=lambda c: -r[c]) if r[c] >= 0.34] or (
            r.predicted == "" and max(r[CLASSES]) < 0.34
        )


def test_predict_refuses_bad_options_in_one_line(folder_model, tmp_path, capsys):
    folders, _, ckpt = folder_model
    for extra, pattern in (
        (["--top-k", "0"], "top-k must be >= 1"),
        (["--threshold", "2"], "--threshold must be in"),
        ([], "no file matches"),
    ):
        paths = [str(tmp_path / "*.png")] if not extra else [str(folders["test"])]
        assert main(["predict", "--checkpoint", str(ckpt), *paths, *extra]) == 2
        err = capsys.readouterr().err
        assert err.startswith("noisereg: error:") and pattern in err and len(err.splitlines()) == 1, err


@pytest.fixture(scope="module")
def small_model(tmp_path_factory, folder_model):
    """A small CNN trained end to end for a few steps (BatchNorm statistics updated), saved."""
    folders = folder_model[0]
    root = tmp_path_factory.mktemp("small_model")
    est = NoiseRegClassifier(
        scheme="end-to-end", backbone="small-cnn", image_size=16, steps=3, hidden=8, batch_size=8, patience=0
    )
    est.fit(noisy=folders["noisy"], clean=folders["clean"]).save(root / "run")
    return est, root / "run", sorted(str(p) for p in folders["test"].rglob("*.png"))


def _inputs_from_recorded_preprocessing(info: dict, paths: list[str]) -> np.ndarray:
    """What a deployment does with the exported JSON alone: torchvision v2 with the recorded values."""
    from PIL import Image
    from torchvision.transforms import v2

    spec = info["input"]
    t = v2.Compose(
        [
            v2.Resize(spec["resize_short_side"]),
            v2.CenterCrop(spec["center_crop"]),
            v2.ToImage(),
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize(spec["mean"], spec["std"]),
        ]
    )
    return torch.stack([t(Image.open(p).convert("RGB")) for p in paths]).numpy()


def test_onnx_export_matches_pytorch(small_model, tmp_path, capsys):
    ort = pytest.importorskip("onnxruntime")
    onnx = pytest.importorskip("onnx")
    est, ckpt, paths = small_model
    out = tmp_path / "model.onnx"
    assert main(["export", "--checkpoint", str(ckpt), "--format", "onnx", "--out", str(out)]) == 0
    assert "model.json" in capsys.readouterr().out
    info = json.loads((tmp_path / "model.json").read_text())
    assert info["classes"] == CLASSES and info["input"]["shape"] == ["N", 3, 16, 16]
    props = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert json.loads(props["noisereg"]) == info and json.loads(props["mean"]) == list(est.preprocess_.mean)

    x = _inputs_from_recorded_preprocessing(info, paths)
    (g,) = ort.InferenceSession(str(out)).run(["g"], {"images": x})
    np.testing.assert_allclose(g, est.predict_proba(paths), atol=1e-4)  # what predict reports (issue 44)
    np.testing.assert_allclose(g.sum(1), 1, atol=1e-5)
    assert "row sums to one" in info["output"]["meaning"]
    (one,) = ort.InferenceSession(str(out)).run(["g"], {"images": x[:1]})  # the batch axis is dynamic
    np.testing.assert_allclose(one, g[:1], atol=1e-4)


def test_torchscript_export_matches_pytorch(small_model, tmp_path):
    est, ckpt, paths = small_model
    out = tmp_path / "model.pt"
    assert main(["export", "--checkpoint", str(ckpt), "--format", "torchscript", "--out", str(out)]) == 0
    extra = {"noisereg.json": ""}
    scripted = torch.jit.load(str(out), _extra_files=extra)
    info = json.loads(extra["noisereg.json"])
    assert info == json.loads((tmp_path / "model.json").read_text())
    with torch.inference_mode():
        g = scripted(torch.as_tensor(_inputs_from_recorded_preprocessing(info, paths))).numpy()
    np.testing.assert_allclose(g, est.predict_proba(paths), atol=1e-4)  # single-label: g's rows normalised


def test_multi_label_torchscript_export_gives_g_per_class(tmp_path):
    """Multi-label: the export's output is g itself (rows not normalised), as ``predict`` reports it."""
    rng = np.random.default_rng(0)
    y = (rng.random((120, 3)) < 0.4).astype(int)
    x = (y @ np.eye(3, 6) * 2 + rng.normal(size=(120, 6))).astype(np.float32)
    est = NoiseRegClassifier(steps=20, hidden=8, batch_size=16, patience=0, seed=0).fit(
        noisy=(x[:80], y[:80]), clean=(x[80:], y[80:])
    )
    est.save(tmp_path / "ml")
    out = tmp_path / "ml.pt"
    assert main(["export", "--checkpoint", str(tmp_path / "ml"), "--format", "torchscript", "--out", str(out)]) == 0
    assert "compare with the thresholds" in json.loads((tmp_path / "ml.json").read_text())["output"]["meaning"]
    with torch.inference_mode():
        g = torch.jit.load(str(out))(torch.as_tensor(x[:10])).numpy()
    np.testing.assert_allclose(g, est.predict_proba(x[:10]), atol=1e-5)


def test_export_errors(tmp_path, capsys):
    assert main(["export", "--checkpoint", str(tmp_path), "--format", "onnx", "--out", str(tmp_path / "m.onnx")]) == 2
    assert "no checkpoint" in capsys.readouterr().err
