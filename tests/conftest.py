"""Shared fixtures: a tiny real-image folder with a manifest, seeded torch."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from tests.browser import browser  # noqa: F401 (one session-wide headless Chromium for every report test)

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(autouse=True)
def _seeded() -> None:
    torch.manual_seed(0)
    torch.set_num_threads(2)


def write_digit_folder(root: Path, *, n_per_class: int = 12, classes=("0", "1", "7")) -> Path:
    """PNG files of real scikit-learn digit scans (3 classes) and a manifest over them.

    Train: every third image clean-labelled (no noisy label), the rest noisy (10% of those wrong);
    val and test: clean labels. Returns the manifest path.
    """
    from sklearn.datasets import load_digits

    d = load_digits()
    rng = np.random.default_rng(0)
    rows = []
    (root / "img").mkdir(parents=True, exist_ok=True)
    for c in classes:
        idx = np.flatnonzero(d.target == int(c))[: n_per_class + 8]
        for j, i in enumerate(idx):
            name = f"img/{c}_{j}.png"
            Image.fromarray((d.images[i] * 255 / 16).astype(np.uint8)).resize((16, 16)).save(root / name)
            split = "train" if j < n_per_class else ("val" if j < n_per_class + 4 else "test")
            if split != "train":
                rows.append({"path": name, "noisy": "", "clean": c, "split": split})
            elif j % 3 == 0:
                rows.append({"path": name, "noisy": "", "clean": c, "split": split})
            else:
                noisy = c if rng.random() > 0.1 else classes[(classes.index(c) + 1) % len(classes)]
                rows.append({"path": name, "noisy": noisy, "clean": "", "split": split})
    manifest = root / "manifest.csv"
    write_manifest(manifest, rows)
    return manifest


def write_manifest(path: Path, rows: list[dict]) -> None:
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["path", "noisy", "clean", "split"])
        w.writeheader()
        w.writerows(rows)


@pytest.fixture
def digit_folder(tmp_path: Path) -> Path:
    return write_digit_folder(tmp_path / "data")


def write_image_folders(
    root: Path, sizes: dict[str, int], *, classes=("0", "1", "7"), noise: float = 0.2, side: int = 32
) -> dict[str, Path]:
    """ImageFolder trees (``root/<part>/<class>/<n>.png``) of real scikit-learn digit scans.

    ``sizes`` maps a part (noisy, clean, val, test) to images per class; each part gets its own
    scans. In the ``noisy`` part a seeded ``noise`` share of images sits in the next class's folder
    (a wrong label). Returns the folder of each part.
    """
    from sklearn.datasets import load_digits

    d = load_digits()
    rng = np.random.default_rng(0)
    start = 0
    out = {}
    for part, n in sizes.items():
        for c in classes:
            idx = np.flatnonzero(d.target == int(c))[start : start + n]
            for j, i in enumerate(idx):
                flipped = classes[(classes.index(c) + 1) % len(classes)]
                label = c if part != "noisy" or rng.random() >= noise else flipped
                path = root / part / label / f"{c}_{start + j}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray((d.images[i] * 255 / 16).astype(np.uint8)).resize((side, side)).save(path)
        start += n
        out[part] = root / part
    return out


def write_unreadable(folder: Path) -> tuple[Path, Path]:
    """Two image files that do not decode, in ``folder``: a JPEG cut in half (its header reads, its pixels
    do not: only a full decode finds it) and a text file named ``.jpg``."""
    import io

    folder.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (48, 48, 3), dtype=np.uint8)).save(buf, "JPEG")
    truncated, text = folder / "truncated.jpg", folder / "text.jpg"
    truncated.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    text.write_text("not an image\n")
    return truncated, text


@pytest.fixture
def image_folders(tmp_path: Path) -> dict[str, Path]:
    """noisy (40 per class, 20% in a wrong folder), clean (8), val (6) and test (10) digit folders."""
    return write_image_folders(tmp_path / "photos", {"noisy": 40, "clean": 8, "val": 6, "test": 10})


# frozen ImageNet features (EfficientNet-Lite0, offline) and heads: the paper's regime, seconds on a CPU
FOLDER_MODEL = dict(
    scheme="frozen",
    backbone="efficientnet-lite0",
    backbone_steps=0,
    image_size=32,
    steps=60,
    hidden=32,
    batch_size=16,
    lr=1e-2,
    patience=0,
)


@pytest.fixture(scope="session")
def folder_model(tmp_path_factory: pytest.TempPathFactory):
    """(folders, a NoiseRegClassifier fitted once on the noisy + clean digit folders, its saved checkpoint)."""
    from noisereg import NoiseRegClassifier

    root = tmp_path_factory.mktemp("folder_model")
    folders = write_image_folders(root / "photos", {"noisy": 40, "clean": 8, "val": 4, "test": 6})
    torch.manual_seed(0)
    est = NoiseRegClassifier(**FOLDER_MODEL).fit(noisy=folders["noisy"], clean=folders["clean"])
    est.save(root / "model")
    return folders, est, root / "model"
