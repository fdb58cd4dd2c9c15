"""``--format folders``: image folders by role (torchvision ``ImageFolder`` or Hugging Face ``imagefolder``)."""

from __future__ import annotations

from dataclasses import dataclass

from ...options import option
from ..folders import folders_table
from ..table import LabelTable
from .registry import Layout

GROUP = (
    "image folders (instead of --manifest): DIR/<class>/<image> (torchvision ImageFolder), or images beside a "
    "metadata.csv / metadata.jsonl with columns file_name,label (Hugging Face imagefolder; a list of classes "
    "per image for multi-label)"
)


@dataclass
class FoldersOptions:
    """One folder per role: the training images with noisy / clean labels, validation and test images."""

    noisy_dir: str | None = option(None, "training images with noisy labels (D_n)")
    clean_dir: str | None = option(None, "training images with clean, checked labels (D_c)")
    val_dir: str | None = option(None, "clean-labelled validation images (default: a seeded share of --clean-dir)")
    test_dir: str | None = option(None, "clean-labelled test images (evaluate)")


def _read(o: FoldersOptions, *, classes: list[str] | None, quiet: bool) -> LabelTable:
    return folders_table(noisy=o.noisy_dir, clean=o.clean_dir, val=o.val_dir, test=o.test_dir, classes=classes)


LAYOUT = Layout("folders", FoldersOptions, _read, fixes_classes=True, group=GROUP)
