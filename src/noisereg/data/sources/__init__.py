"""Dataset layouts, one module each, all read by ``open_dataset`` into a ``LabelTable``.

Each module holds the layout's options dataclass (its flags are generated from it) and its reader, as a
``LAYOUT``; a new layout is one module plus one ``register_layout`` line below (and its name in the import).
``guess_layout`` says which layout a command without ``--format`` reads: a manifest, precomputed
features or image folders.
"""

from __future__ import annotations

from typing import Any

from ...errors import UserError
from . import cifar_n, clothing1m, coco, csv_manifest, image_folders, openimages, precomputed, yolo
from .registry import (
    Layout,
    add_layout_flags,
    get_layout,
    layout_fields,
    layout_options,
    layout_values,
    list_layouts,
    open_dataset,
    register_layout,
    unregister_layout,
)

__all__ = [
    "IMPLICIT_LAYOUTS",
    "Layout",
    "add_layout_flags",
    "get_layout",
    "guess_layout",
    "layout_fields",
    "layout_options",
    "layout_values",
    "list_layouts",
    "open_dataset",
    "register_layout",
    "unregister_layout",
]

register_layout(coco.LAYOUT)
register_layout(openimages.LAYOUT)
register_layout(clothing1m.LAYOUT)
register_layout(cifar_n.LAYOUT)
register_layout(yolo.LAYOUT)
register_layout(csv_manifest.LAYOUT)
register_layout(precomputed.LAYOUT)
register_layout(image_folders.LAYOUT)

# what the commands without --format read (train, evaluate, tune, find-label-issues, protocol annotate)
IMPLICIT_LAYOUTS = ("csv", "features", "folders")
FOLDER_OPTIONS = ("noisy_dir", "clean_dir", "val_dir", "test_dir")


def guess_layout(values: dict[str, Any]) -> str:
    """The implicit layout of ``values`` (given options): ``features`` with features, ``csv`` with a manifest,
    ``folders`` with image folders; both a manifest and folders, or neither, is refused."""
    dirs = any(values.get(k) for k in FOLDER_OPTIONS)
    if values.get("manifest") and dirs:
        raise UserError("give either --manifest or image folders (--noisy-dir, --clean-dir, ...), not both")
    if not values.get("manifest"):
        if not dirs or values.get("features"):
            raise UserError(
                "give --manifest FILE"
                + ("" if values.get("features") else " or image folders (--noisy-dir DIR, --clean-dir DIR, ...)")
            )
        return "folders"
    return "features" if values.get("features") else "csv"
