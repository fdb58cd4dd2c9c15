"""CIFAR-10/100 images with the CIFAR-N human noisy labels (Wei et al., ICLR 2022).

Images come from an ImageFolder copy (``root/{train,test}/{class}/NNNN.jpg``, like
../shared/data/cifar10) or from torchvision's python pickles (``cifar-10-batches-py`` /
``cifar-100-python``). Neither kind of file is unpickled freely: the pickles go through an
unpickler that admits numpy's array reconstruction only (``cifar_pickles.py``), and the official
``CIFAR-10_human.pt`` / ``CIFAR-100_human.pt`` through ``torch.load(weights_only=True)`` with the same
numpy globals.
The label arrays follow the original training order; in an ImageFolder copy training image i
lives at ``train/{class of i}/{k:04d}.jpg`` where k counts the earlier images of that class.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from ...errors import UserError
from ...options import option
from ..files import check_images
from ..table import LabelTable, csr_from_parts
from .cifar_pickles import PICKLE_DIRS, numpy_globals, read_pickles
from .registry import Layout

CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
NOISE_LABELS = {
    "clean": "clean_label",
    "aggre": "aggre_label",
    "random1": "random_label1",
    "random2": "random_label2",
    "random3": "random_label3",
    "worse": "worse_label",
    "noisy": "noisy_label",
    "noisy-coarse": "noisy_coarse_label",
}
CIFAR10N_URL = "https://github.com/UCSC-REAL/cifar-10-100n/raw/main/data/CIFAR-10_human.pt"
CIFAR100N_URL = "https://github.com/UCSC-REAL/cifar-10-100n/raw/main/data/CIFAR-100_human.pt"


def load_cifar_n_labels(path: str | Path) -> dict[str, np.ndarray]:
    """All label arrays of a CIFAR-N file (``clean_label``, ``worse_label``, ...), safely unpickled."""
    import torch

    try:
        with torch.serialization.safe_globals(numpy_globals()):
            data = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise UserError(
            f"CIFAR-N label file not found: {path} (official files: {CIFAR10N_URL}, "
            f"{CIFAR100N_URL}; or pass --download)"
        ) from None
    except Exception as e:
        raise UserError(
            f"{path} is not a CIFAR-N label file readable without unsafe unpickling: {str(e).splitlines()[-1][:200]}"
        ) from None
    if not isinstance(data, dict) or "clean_label" not in data:
        raise UserError(f"{path}: expected a dict with 'clean_label' and the noisy label arrays")
    return {k: np.asarray(v, dtype=np.int64) for k, v in data.items()}


def noisy_labels(labels: dict[str, np.ndarray], noise: str) -> np.ndarray:
    """The label set named ``noise`` (CIFAR-10N: aggre, random1-3, worse; CIFAR-100N: noisy; or a key)."""
    key = NOISE_LABELS.get(noise, noise)
    if key not in labels:
        names = [n for n, k in NOISE_LABELS.items() if k in labels] + [
            k for k in labels if k not in NOISE_LABELS.values()
        ]
        raise UserError(f"unknown CIFAR-N label set '{noise}': this file has {names}")
    return labels[key]


def train_image_paths(root: str | Path, clean: np.ndarray, classes: list[str] = CIFAR10_CLASSES) -> list[str]:
    """Path of every training image in the original order (see the module docstring).

    Raises:
        UserError: the label file's clean labels do not count the images of each class folder (a label
            file for other images, or a partial copy of the images).
    """
    on_disk = np.asarray([len(list((Path(root) / "train" / name).glob("*.jpg"))) for name in classes])
    labelled = np.bincount(clean, minlength=len(classes))[: len(classes)]
    if not np.array_equal(on_disk, labelled):
        k = int(np.flatnonzero(on_disk != labelled)[0])
        raise UserError(
            f"the CIFAR-N labels name {len(clean)} training images but {Path(root) / 'train'} holds "
            f"{int(on_disk.sum())} ({classes[k]}: {labelled[k]} labels vs {on_disk[k]} images): wrong "
            "label file for these images?"
        )
    seen = np.zeros(len(classes), dtype=np.int64)
    paths = []
    for c in clean:
        paths.append(str(Path(root) / "train" / classes[c] / f"{seen[c]:04d}.jpg"))
        seen[c] += 1
    return paths


def test_images(root: str | Path, classes: list[str] = CIFAR10_CLASSES) -> tuple[list[str], np.ndarray]:
    """Test image paths and labels from ``root/test/{class}/*.jpg``."""
    paths, labels = [], []
    for k, name in enumerate(classes):
        files = sorted((Path(root) / "test" / name).glob("*.jpg"))
        if not files:
            raise UserError(f"no test images in {Path(root) / 'test' / name}")
        paths += [str(f) for f in files]
        labels += [k] * len(files)
    return paths, np.asarray(labels)


def _one_label_csr(labels: np.ndarray, k: int, what: str) -> sp.csr_matrix:
    bad = np.flatnonzero((labels < 0) | (labels >= k))
    if len(bad):
        raise UserError(
            f"{what}: label {labels[bad[0]]} of image {bad[0]} is outside 0..{k - 1} ({len(bad)} such labels)"
        )
    return csr_from_parts(np.arange(len(labels) + 1, dtype=np.int64), labels.astype(np.int32), k)


def _find_images(root: Path) -> Path | None:
    """The pickle folder or ImageFolder copy under ``root`` (None when neither is there)."""
    pickles = next((d for d in [root, *(root / n for n in PICKLE_DIRS)] if d.name in PICKLE_DIRS and d.is_dir()), None)
    return pickles or (root if (root / "train").is_dir() else None)


def download(root: Path, labels: Path, dataset: str, *, labels_url: str | None = None) -> None:
    """The real download paths, for what is absent: torchvision's CIFAR archive into ``root``
    (unpacked to its python pickles) and the official CIFAR-N label file."""
    if _find_images(root) is None:
        import torchvision

        cls = torchvision.datasets.CIFAR100 if dataset == "cifar100" else torchvision.datasets.CIFAR10
        cls(str(root), train=True, download=True)
    if not labels.is_file():
        import torch

        labels.parent.mkdir(parents=True, exist_ok=True)
        url = labels_url or (CIFAR100N_URL if dataset == "cifar100" else CIFAR10N_URL)
        try:
            torch.hub.download_url_to_file(url, str(labels), progress=False)
        except OSError as e:
            raise UserError(f"cannot download {url}: {e}") from None


def read_cifar_n(
    root: str | Path,
    labels: str | Path,
    *,
    noise: str = "worse",
    download_missing: bool = False,
    dataset: str | None = None,
) -> LabelTable:
    """CIFAR-10/100 with one CIFAR-N label set as a ``LabelTable``.

    Train rows carry both the original (clean) label and the human (noisy) label, so the noise
    rate can be measured and a clean fraction chosen later; test rows carry the clean label.

    Args:
        root: an ImageFolder copy holding ``train/`` and ``test/``, a ``cifar-10-batches-py`` /
            ``cifar-100-python`` folder, or a folder containing one of them.
        labels: ``CIFAR-10_human.pt`` or ``CIFAR-100_human.pt``.
        noise: label set name (worse, aggre, random1-3; ``noisy`` for CIFAR-100N) or raw key.
        download_missing: fetch torchvision's CIFAR archive and the CIFAR-N file when absent.
        dataset: ``cifar10`` | ``cifar100`` for the download (default: from the label file name).
    """
    root, labels = Path(root), Path(labels)
    if download_missing:
        download(root, labels, dataset or ("cifar100" if "100" in labels.name else "cifar10"))
    table = load_cifar_n_labels(labels)
    clean, noisy = table["clean_label"], noisy_labels(table, noise)
    found = _find_images(root)
    pickles = found if found is not None and found.name in PICKLE_DIRS else None
    if pickles is not None:
        classes, x_train, y_train, x_test, y_test = read_pickles(pickles)
        if len(y_train) != len(clean) or not np.array_equal(y_train, clean):
            raise UserError(
                f"{labels}: clean_label does not match the training labels in {pickles} "
                f"({len(clean)} vs {len(y_train)} images): wrong label file for these images?"
            )
        train_paths = test_paths = None
    elif (root / "train").is_dir():
        classes = sorted(p.name for p in (root / "train").iterdir() if p.is_dir())
        _one_label_csr(clean, len(classes), f"{labels} clean_label")  # fails before the paths would
        train_paths = train_image_paths(root, clean, classes)
        test_paths, y_test = test_images(root, classes)
        x_train = x_test = None
    else:
        raise UserError(
            f"no CIFAR images in {root}: expected train/ and test/ class folders or "
            f"{' / '.join(PICKLE_DIRS)} (or pass --download)"
        )
    k, n = len(classes), len(clean)
    if noise == "noisy-coarse":
        raise UserError("the coarse CIFAR-100N labels use 20 super-classes: not supported with fine images")
    train_clean = _one_label_csr(clean, k, f"{labels} clean_label")
    train_noisy = _one_label_csr(noisy, k, f"{labels} {NOISE_LABELS.get(noise, noise)}")
    test_clean = _one_label_csr(y_test, k, f"{root} test labels")
    m = len(y_test)
    ids = np.asarray([f"train/{i}" for i in range(n)] + [f"test/{i}" for i in range(m)], dtype=object)
    paths = None if train_paths is None else np.asarray(train_paths + test_paths, dtype=object)
    if paths is not None:
        check_images(paths, what=str(root))
    return LabelTable(
        classes=classes,
        ids=ids,
        split=np.repeat(np.asarray([0, 2], np.uint8), [n, m]),
        noisy=sp.vstack([train_noisy, sp.csr_matrix((m, k), dtype=bool)]).tocsr(),
        clean=sp.vstack([train_clean, test_clean]).tocsr(),
        has_noisy=np.arange(n + m) < n,
        has_clean=np.ones(n + m, bool),
        paths=paths,
        root=None,
        multi_label=False,
        pixels=None if x_train is None else np.concatenate([x_train, x_test]),
        source=f"cifar-n {root} + {labels.name} ({noise})",
    )


@dataclass
class CifarNOptions:
    """``--format cifar-n``: the CIFAR images and one CIFAR-N label set."""

    root: str | None = option(None, "the image folder with train/ and test/, or the python-pickle folder")
    labels: str | None = option(None, "CIFAR-10_human.pt or CIFAR-100_human.pt")
    noise: str = option("worse", "label set: worse, aggre, random1-3 (CIFAR-100N: noisy)")
    download: bool = option(False, "download CIFAR (torchvision) and the CIFAR-N file when absent (needs internet)")


def _read(o: CifarNOptions, *, classes: list[str] | None, quiet: bool) -> LabelTable:
    return read_cifar_n(str(o.root), str(o.labels), noise=o.noise, download_missing=o.download)


LAYOUT = Layout("cifar-n", CifarNOptions, _read, required=("root", "labels"))
