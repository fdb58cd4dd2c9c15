"""Shared fixtures: a tiny real-image folder with a manifest, seeded torch."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

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
