"""Which files of an image folder are read: the one scan shared by training folders and ``predict``.

torchvision's extensions and order (``ImageFolder``: sorted folders, sorted names), but hidden folders and
files (names starting with ``.``: ``.ipynb_checkpoints``, macOS ``._a.jpg``) and ``__MACOSX`` (what a zip made
on a Mac unpacks beside the images) are never read, at any depth. A folder is a *class folder* only when it
holds images, so a stray empty or hidden folder neither adds a class nor turns a flat folder into classes.
"""

from __future__ import annotations

import os
from pathlib import Path

SKIPPED_FOLDERS = ("__MACOSX",)


def is_skipped(name: str) -> bool:
    """A folder or file never read: hidden (``.name``) or ``__MACOSX``."""
    return name.startswith(".") or name in SKIPPED_FOLDERS


def image_extensions() -> tuple[str, ...]:
    """torchvision's image extensions (``.jpg``, ``.png``, ...), as ``ImageFolder`` reads them."""
    from torchvision.datasets.folder import IMG_EXTENSIONS

    return tuple(IMG_EXTENSIONS)


def is_image(name: str) -> bool:
    """A file name with one of torchvision's image extensions (any case), not hidden."""
    return not is_skipped(name) and name.lower().endswith(image_extensions())


def images_in(folder: str | Path, *, recursive: bool = True) -> list[str]:
    """The image files in ``folder`` (and, with ``recursive``, its sub-folders), in ``ImageFolder``'s order:
    folders sorted by path, files sorted by name within each; skipped folders are not entered."""
    found: list[tuple[str, list[str]]] = []
    for root, dirs, files in os.walk(folder, followlinks=True):
        dirs[:] = [d for d in dirs if not is_skipped(d)] if recursive else []
        found.append((root, sorted(f for f in files if is_image(f))))
    return [os.path.join(root, f) for root, files in sorted(found) for f in files]


def subfolders(folder: str | Path) -> list[str]:
    """The names of ``folder``'s sub-folders that are read (not skipped), sorted."""
    return sorted(e.name for e in os.scandir(folder) if e.is_dir() and not is_skipped(e.name))


def class_folders(folder: str | Path) -> list[str]:
    """The sub-folders of ``folder`` that hold images (at any depth): its classes, sorted."""
    return [name for name in subfolders(folder) if images_in(Path(folder) / name)]
