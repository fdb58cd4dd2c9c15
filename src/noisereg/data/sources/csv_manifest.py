"""``--format csv``: a training manifest (CSV or JSON lines with ``path,noisy,clean,split[,verified]``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ...options import option
from ..files import check_images
from ..manifest import read_table
from ..table import LabelTable
from .registry import Layout


@dataclass
class CsvOptions:
    """The manifest, the folder its paths are relative to, and whether the image files are checked."""

    manifest: str | None = option(None, "the manifest: CSV (or .jsonl) with columns path,noisy,clean,split[,verified]")
    image_root: str | None = option(None, "folder the manifest's paths are relative to (default: its folder)")
    allow_outside_root: bool = option(
        False, "accept manifest paths that leave the image root, through '..' or absolute (refused by default)"
    )
    check_images: bool = option(True, "do not check that every image file exists", flag="--no-image-check")

    # ``data check --format csv --root DIR``: the dataset folder of the other layouts is the image root here
    ALIASES: ClassVar[dict[str, str]] = {"root": "image_root"}


def _read(o: CsvOptions, *, classes: list[str] | None, quiet: bool) -> LabelTable:
    table = read_table(
        str(o.manifest), image_root=o.image_root, classes=classes, allow_outside_root=o.allow_outside_root
    )
    if o.check_images:
        check_images(table.image_paths(), what=str(o.manifest))
    return table


LAYOUT = Layout("csv", CsvOptions, _read, required=("manifest",), fixes_classes=True)
