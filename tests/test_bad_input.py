"""The bad-input corpus: every input a new user got wrong, as one table row each.

Each row is a command line built over a small real dataset (PNG digit scans, a manifest, a trained
checkpoint, precomputed features) and a regular expression the one-line message must match (it names
the culprit). Every row asserts: exit code 2, exactly one line ``noisereg: error: ...`` on stderr, no
traceback, and no file of the good dataset or checkpoint modified. Add a row per new command or case.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import struct
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pytest
from tests.conftest import write_digit_folder, write_manifest

from noisereg.cli import main
from noisereg.safe_io import LOCK_FILE

TINY = [
    "--scheme",
    "end-to-end",
    "--backbone",
    "small-cnn",
    "--image-size",
    "8",
    "--hidden",
    "8",
    "--batch-size",
    "8",
    "--steps",
    "4",
    "--quiet",
    "--device",
    "cpu",
]
OUTSIDE = ["--allow-outside-root"]  # the manifests below name the good images by absolute paths from another folder


class Good(NamedTuple):
    """The good inputs every row starts from (never modified by a row)."""

    root: Path
    manifest: Path
    ckpt: Path
    features: Path
    feat_manifest: Path
    feat_ckpt: Path


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> Good:
    root = tmp_path_factory.mktemp("good")
    manifest = write_digit_folder(root / "data", n_per_class=8)
    ckpt = root / "ckpt"
    assert main(["train", "--manifest", str(manifest), "--out", str(ckpt), "--save-every", "2", *TINY]) == 0
    rows = [
        {
            "path": f"r{i}",
            "noisy": "" if i % 3 == 0 else "ab"[i % 2],
            "clean": "ab"[i % 2] if i % 3 == 0 else "",
            "split": "train" if i < 24 else "val",
        }
        for i in range(30)
    ]
    feat_manifest = root / "feats.csv"
    write_manifest(feat_manifest, rows)
    features = root / "feats.npy"
    np.save(features, np.random.default_rng(0).normal(size=(30, 6)).astype(np.float32))
    feat_ckpt = root / "feat_ckpt"
    assert (
        main(
            [
                "train",
                "--manifest",
                str(feat_manifest),
                "--features",
                str(features),
                "--out",
                str(feat_ckpt),
                "--steps",
                "4",
                "--hidden",
                "8",
                "--batch-size",
                "8",
                "--quiet",
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    return Good(root, manifest, ckpt, features, feat_manifest, feat_ckpt)


def _snapshot(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != LOCK_FILE
    }


# ---------------------------------------------------------------- helpers that write one bad input
def _text(tmp: Path, name: str, text: str) -> str:
    path = tmp / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return str(path)


def _copy_ckpt(g: Good, tmp: Path, edit: Callable[[Path], None]) -> str:
    import shutil

    out = tmp / "ckpt"
    shutil.copytree(g.ckpt, out)
    edit(out)
    return str(out)


def _edit_json(change: Callable[[dict], object]) -> Callable[[Path], None]:
    def edit(folder: Path) -> None:
        path = folder / "checkpoint.json"
        meta = json.loads(path.read_text())
        path.write_text(json.dumps(change(meta)))

    return edit


def _flip_byte(name: str) -> Callable[[Path], None]:
    def edit(folder: Path) -> None:
        for path in [folder / name, *folder.glob(f"checkpoints/*/{name}")]:
            data = bytearray(path.read_bytes())
            data[-3] ^= 0xFF
            path.unlink()  # a new inode: the set's hard link keeps its own bytes only where we edit both
            path.write_bytes(bytes(data))

    return edit


def _truncate(name: str) -> Callable[[Path], None]:
    def edit(folder: Path) -> None:
        for path in [folder / name, *folder.glob(f"checkpoints/*/{name}")]:
            data = path.read_bytes()
            path.unlink()
            path.write_bytes(data[: len(data) // 2])

    return edit


def _big_png(path: Path, side: int) -> str:
    """A valid PNG header claiming ``side`` x ``side`` pixels with almost no data (a decompression bomb)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    )
    return str(path)


def _bomb_manifest(g: Good, tmp: Path) -> str:
    return _rows(g, tmp, f"{_big_png(tmp / 'big.png', 12000)},1,,train")


def _unreadable_manifest(g: Good, tmp: Path) -> str:
    """The good manifest plus a truncated JPEG (train) and a text file named .jpg (val)."""
    from tests.conftest import write_unreadable

    truncated, text = write_unreadable(tmp / "bad")
    return _rows(g, tmp, f"{truncated},0,,train\n{text},,1,val")


def _file(tmp: Path) -> str:
    return _text(tmp, "a_file", "not a folder")


def _rows(g: Good, tmp: Path, extra: str, name: str = "m.csv") -> str:
    """The good manifest (absolute paths) plus ``extra`` lines."""
    lines = g.manifest.read_text().splitlines()
    root = g.manifest.parent
    fixed = [lines[0]] + [f"{root / ln.split(',', 1)[0]},{ln.split(',', 1)[1]}" for ln in lines[1:]]
    return _text(tmp, name, "\n".join(fixed + ([extra] if extra else [])) + "\n")


def _one_class(g: Good, tmp: Path) -> str:
    lines = g.manifest.read_text().splitlines()
    keep = [lines[0]] + [ln for ln in lines[1:] if ln.split(",")[2] in ("0", "") and ln.split(",")[1] in ("0", "")]
    return _text(
        tmp,
        "one.csv",
        "\n".join([keep[0]] + [f"{g.manifest.parent / ln.split(',', 1)[0]},{ln.split(',', 1)[1]}" for ln in keep[1:]])
        + "\n",
    )


def _yaml(tmp: Path, text: str) -> str:
    return _text(tmp, "c.yaml", text)


class Case(NamedTuple):
    name: str
    argv: Callable[[Good, Path], list[str]]
    message: str  # a regular expression the one error line must match


def _train(g: Good, tmp: Path, *extra: str, out: str = "") -> list[str]:
    return ["train", "--manifest", str(g.manifest), "--out", out or str(tmp / "run"), *TINY, *extra]


def _resume(g: Good, out: str, *extra: str) -> list[str]:
    return ["train", "--manifest", str(g.manifest), "--out", out, "--resume", *extra]


CASES = [
    # manifests
    Case(
        "header-only CSV manifest",
        lambda g, t: [
            "train",
            "--manifest",
            _text(t, "m.csv", "path,noisy,clean,split\n"),
            "--out",
            str(t / "run"),
            *TINY,
        ],
        r"m\.csv.*(no rows|empty)",
    ),
    Case(
        "header-only CSV, data check",
        lambda g, t: ["data", "check", "--format", "csv", "--manifest", _text(t, "m.csv", "path,noisy,clean,split\n")],
        r"m\.csv.*(no rows|empty)",
    ),
    Case(
        "manifest header with spaces after the commas",
        lambda g, t: [
            "train",
            "--manifest",
            _text(t, "m.csv", "path, noisy, clean, split\nimg/0_0.png, 0, , train\n"),
            "--out",
            str(t / "run"),
            *TINY,
        ],
        r"m\.csv: missing column.*found \['path', ' noisy', ' clean', ' split'\].*spaces",
    ),
    Case(
        "unknown flag --image_size",
        lambda g, t: ["train", "--manifest", str(g.manifest), "--out", str(t / "run"), "--image_size", "8"],
        r"unrecognized arguments: --image_size 8 \(did you mean --image-size\?\)",
    ),
    Case(
        "manifest is a directory",
        lambda g, t: ["train", "--manifest", str(t), "--out", str(t / "run"), *TINY],
        r"m\w*.*is a folder",
    ),
    Case(
        "JSON-lines label that is an object",
        lambda g, t: [
            "data",
            "check",
            "--format",
            "csv",
            "--manifest",
            _text(
                t, "m.jsonl", f'{{"path": "{g.manifest.parent}/img/0_0.png", "noisy": {{"x": 1}}, "split": "train"}}\n'
            ),
        ],
        r"m\.jsonl:1: 'noisy' must be a class name",
    ),
    Case(
        "paths differing only by // or /./",
        lambda g, t: [
            "train",
            "--manifest",
            _rows(g, t, f"{g.manifest.parent}/img//0_1.png,0,,train"),
            *OUTSIDE,
            "--out",
            str(t / "run"),
            *TINY,
        ],
        r"(duplicate|twice|same image).*0_1\.png",
    ),
    Case(
        "manifest path leaving the image root",
        lambda g, t: [
            "train",
            "--manifest",
            _text(
                t,
                "sub/m.csv",
                "".join(
                    ["path,noisy,clean,split\n"]
                    + [f"../../{g.manifest.parent.name}/img/{c}_{i}.png,{c},,train\n" for c in "017" for i in range(3)]
                ),
            ),
            "--image-root",
            str(t / "sub"),
            "--out",
            str(t / "run"),
            *TINY,
        ],
        r"m\.csv:2: path '\.\./.*leaves the image root",
    ),
    Case(
        "manifest path absolute and outside the image root",
        lambda g, t: ["train", "--manifest", _rows(g, t, ""), "--out", str(t / "run"), *TINY],
        r"m\.csv:2: path '/.*0_0\.png' leaves the image root \(it is absolute and outside",
    ),
    Case(
        "one class",
        lambda g, t: ["train", "--manifest", _one_class(g, t), *OUTSIDE, "--out", str(t / "run"), *TINY],
        r"(one class|single class|2 classes)",
    ),
    Case(
        "decompression bomb, train",
        lambda g, t: ["train", "--manifest", _bomb_manifest(g, t), *OUTSIDE, "--out", str(t / "run"), *TINY],
        r"big\.png.*12000 x 12000",
    ),
    Case(
        "images that do not decode, data check --decode",
        lambda g, t: [
            "data",
            "check",
            "--format",
            "csv",
            "--manifest",
            _unreadable_manifest(g, t),
            *OUTSIDE,
            "--decode",
        ],
        r"2 of 50 images do not decode \(first: .*truncated\.jpg: image file is truncated.*--skip-unreadable",
    ),
    Case(
        "a truncated JPEG among the training images, train",
        lambda g, t: [
            "train",
            "--manifest",
            _unreadable_manifest(g, t),
            *OUTSIDE,
            "--out",
            str(t / "run"),
            *TINY,
            "--scheme",
            "frozen",
            "--backbone-steps",
            "0",
        ],
        r"truncated\.jpg: image file is truncated.*--skip-unreadable.*data check",
    ),
    Case(
        "decompression bomb, predict",
        lambda g, t: [
            "predict",
            "--checkpoint",
            str(g.ckpt),
            _big_png(t / "big.png", 12000),
            "--out",
            str(t / "p.csv"),
        ],
        r"big\.png.*(12000 x 12000|pixels)",
    ),
    # features
    Case(
        "features of the wrong width",
        lambda g, t: [
            "evaluate",
            "--checkpoint",
            str(g.feat_ckpt),
            "--manifest",
            str(g.feat_manifest),
            "--features",
            _npy(t, (30, 9)),
            "--split",
            "val",
        ],
        r"9.*(6|width|dimension)",
    ),
    Case(
        "NaN features given to evaluation",
        lambda g, t: [
            "evaluate",
            "--checkpoint",
            str(g.feat_ckpt),
            "--manifest",
            str(g.feat_manifest),
            "--features",
            _npy(t, (30, 6), np.nan),
            "--split",
            "val",
        ],
        r"NaN",
    ),
    Case(
        "features with too few rows",
        lambda g, t: [
            "train",
            "--manifest",
            str(g.feat_manifest),
            "--features",
            _npy(t, (10, 6)),
            "--out",
            str(t / "run"),
            "--quiet",
        ],
        r"(10|rows)",
    ),
    # checkpoints
    Case(
        "checkpoint.json missing keys",
        lambda g, t: [
            "evaluate",
            "--checkpoint",
            _copy_ckpt(g, t, _edit_json(lambda m: {"format": m["format"]})),
            "--manifest",
            str(g.manifest),
        ],
        r"missing key",
    ),
    Case(
        "checkpoint.json is a list",
        lambda g, t: [
            "evaluate",
            "--checkpoint",
            _copy_ckpt(g, t, _edit_json(lambda m: [m])),
            "--manifest",
            str(g.manifest),
        ],
        r"checkpoint\.json.*JSON object",
    ),
    Case(
        "corrupted safetensors bytes",
        lambda g, t: [
            "evaluate",
            "--checkpoint",
            _copy_ckpt(g, t, _flip_byte("model.safetensors")),
            "--manifest",
            str(g.manifest),
        ],
        r"model\.safetensors.*SHA-256",
    ),
    Case(
        "truncated optimizer.safetensors, resume",
        lambda g, t: _resume(g, _copy_ckpt(g, t, _truncate("optimizer.safetensors"))),
        r"optimizer\.safetensors",
    ),
    Case(
        "checkpoint is a file",
        lambda g, t: ["evaluate", "--checkpoint", _file(t), "--manifest", str(g.manifest)],
        r"a_file.*(is a file|folder)",
    ),
    Case(
        "resume with other data",
        lambda g, t: [
            "train",
            "--manifest",
            _rows(g, t, ""),
            *OUTSIDE,
            "--out",
            _copy_ckpt(g, t, lambda f: None),
            "--resume",
        ],
        r"--resume: the training data differs",
    ),
    Case(
        "resume with another class list",
        lambda g, t: _resume(g, _copy_ckpt(g, t, lambda f: None), "--classes", _text(t, "classes.txt", "0\n1\n7\n9\n")),
        r"--resume: the class list differs",
    ),
    Case(
        "resume with another method",
        lambda g, t: _resume(g, _copy_ckpt(g, t, lambda f: None), "--method", "noisy"),
        r"--resume: option method",
    ),
    Case(
        "train into a folder holding a checkpoint",
        lambda g, t: ["train", "--manifest", str(g.manifest), "--out", _copy_ckpt(g, t, lambda f: None), *TINY],
        r"already holds a checkpoint.*--overwrite",
    ),
    Case(
        "--steps -1 over a good checkpoint",
        lambda g, t: ["train", "--manifest", str(g.manifest), "--out", str(g.ckpt), *TINY, "--steps", "-1"],
        r"steps",
    ),
    # options
    Case("--weight-decay -1", lambda g, t: _train(g, t, "--weight-decay", "-1"), r"weight_decay.*-1"),
    Case("--seed -1", lambda g, t: _train(g, t, "--seed", "-1"), r"seed.*-1"),
    Case("--lr 1e30", lambda g, t: _train(g, t, "--lr", "1e30"), r"lr.*at most 10"),
    Case("--lr 0", lambda g, t: _train(g, t, "--lr", "0"), r"lr.*> 0"),
    Case("--alpha nan", lambda g, t: _train(g, t, "--alpha", "nan"), r"alpha"),
    Case("--batch-size -1", lambda g, t: _train(g, t, "--batch-size", "-1"), r"batch_size.*-1"),
    Case(
        "--image-size 100000",
        lambda g, t: _train(g, t, "--image-size", "100000"),
        r"--image-size \(image_size\) must be at most 4,096, got 100,000",
    ),
    Case("--batch-size 100000000", lambda g, t: _train(g, t, "--batch-size", "100000000"), r"--batch-size.*at most"),
    Case("--hidden 100000000", lambda g, t: _train(g, t, "--hidden", "100000000"), r"--hidden.*at most 65,536"),
    Case("--steps 10^12", lambda g, t: _train(g, t, "--steps", "1000000000000"), r"--steps.*at most"),
    Case("--epochs 1e9", lambda g, t: _train(g, t, "--epochs", "1e9"), r"--epochs.*at most 1,000,000"),
    Case("--max-pixels 0", lambda g, t: _train(g, t, "--max-pixels", "0"), r"--max-pixels"),
    Case("--device gpu", lambda g, t: _train(g, t, "--device", "gpu"), r"device 'gpu' is not one of"),
    Case("--device cuda:99 (absent)", lambda g, t: _train(g, t, "--device", "cuda:99"), r"device 'cuda:99'"),
    Case(
        "evaluate --device cuda:99",
        lambda g, t: ["evaluate", "--checkpoint", str(g.ckpt), "--manifest", str(g.manifest), "--device", "cuda:99"],
        r"device 'cuda:99'",
    ),
    Case(
        "--pos-weight auto, single-label",
        lambda g, t: _train(g, t, "--pos-weight", "auto"),
        r"--pos-weight auto is for multi-label",
    ),
    Case("--momentum 1", lambda g, t: _train(g, t, "--optimizer", "sgd", "--momentum", "1"), r"momentum"),
    # partial fine-tuning (issue 42)
    Case(
        "--train-blocks 7 of small-cnn's 6",
        lambda g, t: _train(g, t, "--backbone", "small-cnn", "--train-blocks", "7"),
        r"--train-blocks 7: small-cnn has 6 blocks, so at most 6",
    ),
    Case(
        "--train-blocks with --augment",
        lambda g, t: _train(g, t, "--train-blocks", "2", "--augment"),
        r"--augment cannot be used with --train-blocks.*activations.*no image to augment",
    ),
    Case(
        "--train-blocks with --backbone features",
        lambda g, t: _train(g, t, "--train-blocks", "2", "--backbone", "features"),
        r"--backbone features",
    ),
    Case(
        "--train-blocks with precomputed --features",
        lambda g, t: [
            "train",
            "--manifest",
            str(g.feat_manifest),
            "--features",
            str(g.features),
            "--out",
            str(t / "run"),
            "--train-blocks",
            "2",
            "--scheme",
            "end-to-end",
            "--quiet",
        ],
        r"--train-blocks needs images",
    ),
    Case(
        "--train-blocks with --backbone-steps 0 (frozen)",
        lambda g, t: _train(g, t, "--scheme", "frozen", "--backbone-steps", "0", "--train-blocks", "2"),
        r"--backbone-steps 0 skips",
    ),
    Case(
        "--train-blocks of a backbone without blocks",
        lambda g, t: _train(g, t, "--backbone", "mobilenet_v3_small", "--no-pretrained", "--train-blocks", "2"),
        r"'mobilenet_v3_small' cannot be cut into blocks; supported: small-cnn",
    ),
    Case("--train-blocks -1", lambda g, t: _train(g, t, "--train-blocks", "-1"), r"train_blocks.*-1"),
    Case("YAML lr: fast", lambda g, t: _train(g, t, "--config", _yaml(t, "lr: fast\n")), r"'lr' must be a number"),
    Case(
        "YAML alpha: [1, 2]",
        lambda g, t: _train(g, t, "--config", _yaml(t, "alpha: [1, 2]\n")),
        r"'alpha' must be a number",
    ),
    # experiment configs
    Case(
        "experiment: unknown key",
        lambda g, t: ["experiment", "--config", _yaml(t, "dataa: digits\n"), "--out", str(t / "exp")],
        r"unknown experiment key.*dataa",
    ),
    Case(
        "experiment: wrong type",
        lambda g, t: ["experiment", "--config", _yaml(t, "seeds: many\n"), "--out", str(t / "exp")],
        r"seeds",
    ),
    Case(
        "experiment: unknown method",
        lambda g, t: ["experiment", "--methods", "propposed", "--out", str(t / "exp")],
        r"propposed",
    ),
    Case(
        "experiment: empty method list",
        lambda g, t: ["experiment", "--config", _yaml(t, "methods: []\n"), "--out", str(t / "exp")],
        r"methods",
    ),
    # unwritable outputs: a file where a folder should be
    Case("train --out under a file", lambda g, t: _train(g, t, out=_file(t) + "/run"), r"a_file"),
    Case("train --out is a file", lambda g, t: _train(g, t, out=_file(t)), r"a_file"),
    Case(
        "--cache-dir under a file",
        lambda g, t: _train(g, t, "--scheme", "frozen", "--backbone-steps", "0", "--cache-dir", _file(t) + "/cache"),
        r"a_file",
    ),
    Case(
        "data manifest --out under a file",
        lambda g, t: [
            "data",
            "manifest",
            "--format",
            "csv",
            "--manifest",
            str(g.manifest),
            "--out",
            _file(t) + "/m.csv",
        ],
        r"a_file",
    ),
    Case(
        "data manifest --out is a folder",
        lambda g, t: ["data", "manifest", "--format", "csv", "--manifest", str(g.manifest), "--out", str(t)],
        r"folder",
    ),
    Case(
        "protocol --out under a file",
        lambda g, t: ["protocol", "coco", "--root", str(t), "--out", _file(t) + "/p"],
        r"a_file",
    ),
    Case(
        "protocol annotate into an --out holding a manifest",
        lambda g, t: [
            "protocol",
            "annotate",
            "--manifest",
            str(g.manifest),
            "--class-map",
            "cifar10",
            "--out",
            str(Path(_text(t, "earlier/manifest.csv", "path,noisy,clean,split\n")).parent),
        ],
        r"earlier.*manifest\.csv.*--overwrite",
    ),
    Case("experiment --out under a file", lambda g, t: ["experiment", "--out", _file(t) + "/exp"], r"a_file"),
    Case("report --out under a file", lambda g, t: ["report", str(g.ckpt), "--out", _file(t) + "/r.html"], r"a_file"),
    Case(
        "predict --out under a file",
        lambda g, t: [
            "predict",
            "--checkpoint",
            str(g.ckpt),
            str(g.manifest.parent / "img"),
            "--out",
            _file(t) + "/p.csv",
        ],
        r"a_file",
    ),
    # outputs that would lose something (issue 44): a run's files, a wrong extension, an existing file
    Case(
        "predict --out the run's weights",
        lambda g, t: [
            "predict",
            "--checkpoint",
            str(g.ckpt),
            str(g.manifest.parent / "img"),
            "--out",
            str(g.ckpt / "model.safetensors"),
        ],
        r"model\.safetensors.*\.csv or \.jsonl",
    ),
    Case(
        "predict --out the run's metrics.csv",
        lambda g, t: [
            "predict",
            "--checkpoint",
            str(g.ckpt),
            str(g.manifest.parent / "img"),
            "--out",
            str(g.ckpt / "metrics.csv"),
            "--overwrite",
        ],
        r"metrics\.csv.*file of the trained run",
    ),
    Case(
        "predict --out p.xlsx",
        lambda g, t: [
            "predict",
            "--checkpoint",
            str(g.ckpt),
            str(g.manifest.parent / "img"),
            "--out",
            str(t / "p.xlsx"),
        ],
        r"p\.xlsx.*\.csv or \.jsonl.*not \.xlsx",
    ),
    Case(
        "predict --format jsonl --out p.csv",
        lambda g, t: [
            "predict",
            "--checkpoint",
            str(g.ckpt),
            str(g.manifest.parent / "img"),
            "--format",
            "jsonl",
            "--out",
            str(t / "p.csv"),
        ],
        r"jsonl.*\.jsonl.*not \.csv",
    ),
    Case(
        "predict --out an existing file",
        lambda g, t: [
            "predict",
            "--checkpoint",
            str(g.ckpt),
            str(g.manifest.parent / "img"),
            "--out",
            _text(t, "p.csv", "earlier\n"),
        ],
        r"p\.csv already exists.*--overwrite",
    ),
    Case(
        "export --format onnx --out m.pt",
        lambda g, t: ["export", "--checkpoint", str(g.ckpt), "--format", "onnx", "--out", str(t / "m.pt")],
        r"m\.pt.*\.onnx.*not \.pt",
    ),
    Case(
        "export beside the run's checkpoint.json",
        lambda g, t: [
            "export",
            "--checkpoint",
            str(g.ckpt),
            "--format",
            "onnx",
            "--out",
            str(g.ckpt / "checkpoint.onnx"),
            "--overwrite",
        ],
        r"checkpoint\.json.*file of the trained run",
    ),
    # dataset layouts
    Case(
        "YOLO names as a dict with names for keys",
        lambda g, t: ["data", "check", "--format", "yolo", "--root", str(t), "--names", _yaml(t, "names: {a: cat}\n")],
        r"c\.yaml.*names",
    ),
    Case(
        "CIFAR-N label file for other images",
        lambda g, t: ["data", "check", "--format", "cifar-n", "--root", _cifar(t, 10)[0], "--labels", _cifar(t, 10)[1]],
        r"CIFAR-10_human\.pt.*10 vs 20 images",
    ),
    # find-label-issues (issue 11)
    Case(
        "find-label-issues: a class the checkpoint does not know",
        lambda g, t: [
            "find-label-issues",
            "--checkpoint",
            str(g.ckpt),
            "--manifest",
            _rows(g, t, f"{g.manifest.parent / 'img' / 'x.png'},9,,train"),
            *OUTSIDE,
            "--out",
            str(t / "i.csv"),
        ],
        r"'9'",
    ),
    Case(
        "find-label-issues: features of the wrong width",
        lambda g, t: [
            "find-label-issues",
            "--checkpoint",
            str(g.feat_ckpt),
            "--manifest",
            str(g.feat_manifest),
            "--features",
            _npy(t, (30, 5)),
            "--out",
            str(t / "i.csv"),
        ],
        r"wrong\.npy|width|5",
    ),
    Case(
        "find-label-issues --out under a file",
        lambda g, t: [
            "find-label-issues",
            "--checkpoint",
            str(g.ckpt),
            "--manifest",
            str(g.manifest),
            "--out",
            _file(t) + "/i.csv",
        ],
        r"a_file",
    ),
    Case(
        "find-label-issues: a checkpoint that is no run",
        lambda g, t: [
            "find-label-issues",
            "--checkpoint",
            str(t),
            "--manifest",
            str(g.manifest),
            "--out",
            str(t / "i.csv"),
        ],
        r"checkpoint",
    ),
]


def _cifar(tmp: Path, n_labels: int) -> tuple[str, str]:
    """CIFAR-10 python pickles (20 training images) and a CIFAR-N label file with ``n_labels`` labels."""
    from tests.formats import write_cifar_n, write_cifar_pickles

    if not (tmp / "cifar").is_dir():
        folder, labels = write_cifar_pickles(tmp / "cifar")
        write_cifar_n(tmp / "cifar" / "CIFAR-10_human.pt", labels[:n_labels])
    return str(next((tmp / "cifar").glob("cifar-10-batches-py"))), str(tmp / "cifar" / "CIFAR-10_human.pt")


def _npy(tmp: Path, shape: tuple[int, int], value: float = 0.0) -> str:
    path = tmp / "wrong.npy"
    np.save(path, np.full(shape, value, np.float32))
    return str(path)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_is_one_line_exit_2_and_changes_nothing(case: Case, good: Good, tmp_path: Path, capsys) -> None:
    before = _snapshot(good.root)
    argv = case.argv(good, tmp_path)
    capsys.readouterr()
    code = main(argv)
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.startswith("noisereg: error: ")]
    assert code == 2, err
    assert len(lines) == 1 and "Traceback" not in err, err
    assert re.search(case.message, lines[0]), lines[0]
    assert _snapshot(good.root) == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_output_folder_is_one_line(good: Good, tmp_path: Path, capsys) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    assert main(_train(good, tmp_path, out=str(ro / "run"))) == 2
    assert "ro" in capsys.readouterr().err


def test_allow_outside_root_reads_a_manifest_that_climbs_out(good: Good, tmp_path: Path, capsys) -> None:
    """The escape refused above is read when asked for explicitly."""
    root = tmp_path / "root"
    root.mkdir()
    up = os.path.relpath(good.manifest.parent / "img", root)
    manifest = _text(
        tmp_path,
        "sub/m.csv",
        "".join(["path,noisy,clean,split\n"] + [f"{up}/{c}_{i}.png,,{c},train\n" for c in "017" for i in range(3)]),
    )
    argv = ["data", "check", "--format", "csv", "--manifest", manifest, "--root", str(root)]
    assert main(argv) == 2 and "leaves the image root" in capsys.readouterr().err
    assert main(argv + ["--allow-outside-root"]) == 0
    assert "9" in capsys.readouterr().out


def _no_clean(g: Good, t: Path) -> list[str]:
    """The good manifest with every training clean label removed (and no val split): D_c is empty."""
    import csv

    rows = [r for r in csv.DictReader(open(g.manifest)) if r["split"] == "train"]
    write_manifest(t / "noclean.csv", [{**r, "clean": "", "noisy": r["noisy"] or r["clean"]} for r in rows])
    return [
        "train",
        "--manifest",
        str(t / "noclean.csv"),
        "--image-root",
        str(g.manifest.parent),
        "--out",
        str(t / "run"),
        *TINY,
    ]


@pytest.mark.parametrize(
    "argv, message",
    [
        (
            lambda g, t: _train(g, t, "--backbone", "efficientnet-lit0"),
            r"unknown backbone 'efficientnet-lit0'.*did you mean 'efficientnet-lite0'\?",
        ),
        (_no_clean, r"clean set D_c is empty"),
    ],
    ids=["backbone typo", "empty clean set"],
)
def test_a_refused_run_leaves_out_as_it_found_it(argv, message, good: Good, tmp_path: Path, capsys) -> None:
    """Issue 44: refused before any extraction or write; no config.yaml, metrics.csv, lock or new --out left."""
    assert main(argv(good, tmp_path)) == 2
    err = capsys.readouterr().err
    assert re.search(message, err) and err.count("\n") == 1 and "info" not in err
    assert not (tmp_path / "run").exists()
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "mine.txt").write_text("kept")
    assert main(argv(good, tmp_path)) == 2
    assert [p.name for p in (tmp_path / "run").iterdir()] == ["mine.txt"]
