"""Dataset readers in their official layouts, one module each, all returning a ``LabelTable``.

``FORMATS`` lists the ``--format`` names of ``noisereg data check`` / ``data manifest``;
``open_table`` dispatches on it. A new format is one module plus one line here.
"""
from __future__ import annotations

from dataclasses import dataclass

from ...errors import UserError
from ..table import LabelTable

FORMATS = ("coco", "openimages", "clothing1m", "cifar-n", "yolo", "csv", "features", "folders")


@dataclass
class SourceOptions:
    """Where a dataset is and how to read it (the ``data`` subcommands' flags)."""

    format: str
    root: str | None = None
    manifest: str | None = None
    labels: str | None = None
    noise: str = "worse"
    features: str | None = None
    images: str | None = None
    names: str | None = None
    subsets: list[str] | None = None
    download: bool = False
    check_images: bool = True
    seed: int = 0
    quiet: bool = False
    noisy_dir: str | None = None
    clean_dir: str | None = None
    val_dir: str | None = None
    test_dir: str | None = None
    classes: str | None = None
    allow_outside_root: bool = False


def _need(value: str | None, flag: str, fmt: str) -> str:
    if not value:
        raise UserError(f"--format {fmt} needs {flag}")
    return value


def open_table(o: SourceOptions) -> LabelTable:
    """Read the dataset ``o`` describes."""
    fmt = o.format
    if fmt == "coco":
        from .coco import read_coco
        return read_coco(_need(o.root, "--root", fmt), subsets=o.subsets, check_files=o.check_images)
    if fmt == "openimages":
        from .openimages import read_openimages
        return read_openimages(_need(o.root, "--root", fmt), images=o.images, seed=o.seed,
                               check_files=o.check_images, quiet=o.quiet)
    if fmt == "clothing1m":
        from .clothing1m import read_clothing1m
        return read_clothing1m(_need(o.root, "--root", fmt), check_files=o.check_images)
    if fmt == "cifar-n":
        from .cifar_n import read_cifar_n
        root = _need(o.root, "--root", fmt)
        return read_cifar_n(root, _need(o.labels, "--labels FILE.pt", fmt), noise=o.noise,
                            download_missing=o.download)
    if fmt == "yolo":
        from .yolo import read_yolo
        return read_yolo(_need(o.root, "--root", fmt), names=o.names)
    if fmt == "csv":
        from ..files import check_images
        from ..manifest import read_table
        table = read_table(_need(o.manifest, "--manifest FILE", fmt), image_root=o.root,
                           allow_outside_root=o.allow_outside_root)
        if o.check_images:
            check_images(table.image_paths(), what=str(o.manifest))
        return table
    if fmt == "features":
        from ..embeddings import features_table
        return features_table(_need(o.features, "--features FILE", fmt), _need(o.manifest, "--manifest FILE", fmt))
    if fmt == "folders":
        from ..classes import read_classes
        from ..folders import folders_table
        return folders_table(noisy=o.noisy_dir, clean=o.clean_dir, val=o.val_dir, test=o.test_dir,
                             classes=read_classes(o.classes) if o.classes else None)
    raise UserError(f"unknown format '{fmt}': expected one of {list(FORMATS)}")

