"""Decoding image files, and finding every one that does not decode, all at once.

``load_image`` is the one decoder of noisereg: training, features, prediction, label issues,
annotation and report thumbnails all read images through it, so what ``find_unreadable`` accepts is
exactly what they accept. A file that does not decode (a truncated JPEG, text named ``.jpg``, an
image over the pixel limit) raises ``UnreadableImage``, which names the file. ``find_unreadable``
decodes a whole set in chunks on a few threads (PIL releases the GIL while it decodes) and returns
every failure, so ``data check --decode`` lists them all in one run and ``train --skip-unreadable``
leaves them out before any work, instead of a run stopping on one bad file after another.

No torch here: ``data check`` decodes without importing it.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import UserError
from ..progress import progress, warn

if TYPE_CHECKING:
    from .labelset import LabelledSet
    from .table import LabelTable

# the most pixels an image may have before it is decoded: PIL's own warning threshold (about 89 M
# pixels) by default, so a decompression bomb or a 12000 x 12000 photo is refused, not decoded
MAX_PIXELS = {"limit": int(Image.MAX_IMAGE_PIXELS or 89_478_485)}
# what a training run that meets an unreadable image adds to its one line
SKIP_HINT = (
    "--skip-unreadable (skip_unreadable=True) leaves such images out; `noisereg data check --decode` lists them all"
)


class UnreadableImage(UserError):
    """An image file that does not decode (missing, truncated, not an image, over the pixel limit).

    Attributes:
        path: the file ("" where the error crossed a DataLoader worker, which keeps only the message).
        reason: why it does not decode, without the path.
    """

    def __init__(self, message: str, path: str | Path = "", reason: str = "") -> None:
        super().__init__(message)
        self.path, self.reason = str(path), reason or message


class Unreadable(NamedTuple):
    """One file that does not decode and why."""

    path: str
    reason: str


def set_max_pixels(limit: int | None) -> None:
    """Set the pixel limit of every image decoded from now on (``--max-pixels``; None keeps it)."""
    if limit is None:
        return
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise UserError(f"--max-pixels must be a positive integer, got {limit!r}")
    MAX_PIXELS["limit"] = limit
    Image.MAX_IMAGE_PIXELS = limit  # PIL refuses at twice this itself, before reading the header fully


def load_image(path: str | Path, channels: int = 3) -> Image.Image:
    """Open and fully decode an image as RGB (or L for one channel), upright as its EXIF orientation tag
    says (a phone photo is stored as the sensor saw it, tagged "rotate 90"), refusing one with more
    pixels than the limit (``set_max_pixels``) before decoding it.

    Raises:
        UnreadableImage: naming the file and why (a truncated file fails here, in ``convert``).
    """
    limit = MAX_PIXELS["limit"]
    try:
        with warnings.catch_warnings():  # the limit is checked here, with a message naming the file
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(path)
        with im:
            if im.width * im.height > limit:
                size = f"{im.width} x {im.height} = {im.width * im.height:,} pixels"
                reason = f"{size}, more than the limit of {limit:,} (--max-pixels N raises it)"
                raise UnreadableImage(f"image {path} has {reason}", path, reason)
            ImageOps.exif_transpose(im, in_place=True)
            return im.convert("L" if channels == 1 else "RGB")
    except UnreadableImage:
        raise
    except FileNotFoundError:
        raise UnreadableImage(f"image not found: {path}", path, "not found") from None
    except Image.DecompressionBombError:
        reason = f"more pixels than the limit of {limit:,} (--max-pixels N raises it)"
        raise UnreadableImage(f"image {path} has {reason}", path, reason) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise UnreadableImage(f"cannot read image {path}: {reason}", path, reason) from None


def _decode_chunk(paths: Sequence[str]) -> list[Unreadable]:
    """The files of one chunk that do not decode (each decoded image is dropped at once)."""
    failures = []
    for path in paths:
        try:
            load_image(path)
        except UnreadableImage as e:
            failures.append(Unreadable(str(path), e.reason))
    return failures


def find_unreadable(
    paths: Sequence[str], *, quiet: bool = False, workers: int = 0, chunk: int = 64
) -> list[Unreadable]:
    """Every file of ``paths`` that does not fully decode, in the order of ``paths``, with the reason.

    Args:
        paths: image files.
        quiet: no progress bar (otherwise one on stderr, ``progress``; silent for a task under 2 s).
        workers: decoding threads (0: the CPU count, at most 8).
        chunk: files per task handed to a thread.
    """
    paths = [str(p) for p in paths]
    workers = workers or min(8, os.cpu_count() or 1)
    chunks = [paths[i : i + chunk] for i in range(0, len(paths), chunk)]
    bar = progress(total=len(paths), desc="decode", unit="images", quiet=quiet, delay=2.0)
    failures: list[Unreadable] = []
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for part, found in zip(chunks, pool.map(_decode_chunk, chunks)):  # in order
            failures += found
            bar.update(len(part))
    bar.close()
    return failures


def skipped_line(failures: Sequence[Unreadable]) -> str:
    """``skipped N unreadable images (first: path: reason)``."""
    first = failures[0]
    return (
        f"skipped {len(failures):,} unreadable image{'s' * (len(failures) != 1)} (first: {first.path}: {first.reason})"
    )


def _readable_part(data: LabelledSet, bad: set[str]) -> LabelledSet:
    """The rows of ``data`` whose image decodes, marked as checked (a new set; ``data`` is left as it is)."""
    keep = np.array([str(p) not in bad for p in data.images], dtype=bool)
    return replace(data.subset(np.flatnonzero(keep)) if not keep.all() else data, decoded=True)


def drop_unreadable(train: LabelledSet, val: LabelledSet | None, cfg: Any) -> tuple[LabelledSet, LabelledSet | None]:
    """``train`` and ``val`` without the images that do not decode when ``cfg.skip_unreadable`` (``cfg``: a
    ``TrainConfig``; its ``quiet`` hides the progress bar), said in one line on stderr; a validation set
    left empty becomes None. Without ``skip_unreadable`` (or ``cfg``) both are returned as they are.

    Sets of arrays and sets already checked (``LabelledSet.decoded``) are also returned as they are, so
    the check runs once however many runs share a set (tuning's trials, ``fit`` after the command).

    Raises:
        UserError: no training image decodes.
    """
    check_train, check_val = (s is not None and not s.holds_arrays and not s.decoded for s in (train, val))
    if not getattr(cfg, "skip_unreadable", False) or not (check_train or check_val):
        return train, val
    sets = [s for s, check in ((train, check_train), (val, check_val)) if check]
    from ..distributed import current  # torch: training has it loaded already

    failures = find_unreadable(list(dict.fromkeys(str(p) for s in sets for p in s.images)), quiet=cfg.quiet)
    if failures and current().is_main:
        warn(skipped_line(failures))
    bad = {f.path for f in failures}
    if check_train:
        train = _readable_part(train, bad)
        if not len(train):
            raise UserError(f"no training image decodes: {skipped_line(failures)}")
    if check_val and val is not None:
        val = _readable_part(val, bad)
        val = val if len(val) else None
    return train, val


def readable_rows(table: LabelTable, splits: Sequence[str], *, quiet: bool = True) -> np.ndarray:
    """(N,) bool: the rows of ``table`` outside ``splits`` or whose image decodes: the rows a run trained
    with ``skip_unreadable`` on those splits kept (label issues score the same ones)."""
    keep = np.ones(len(table), dtype=bool)
    if table.paths is None:  # features or pixels in memory
        return keep
    rows = np.flatnonzero(np.any([table.split_mask(s) for s in splits], axis=0)) if splits else np.arange(0)
    paths = table.image_paths(rows)
    bad = {f.path for f in find_unreadable(paths, quiet=quiet)}
    keep[rows] = [p not in bad for p in paths]
    return keep


def with_skip_hint(e: UnreadableImage) -> UnreadableImage:
    """The error of a training run that met an unreadable image, as one line naming the file and the flag
    that trains without such images (once, however many ``fit`` calls it crosses)."""
    line = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
    line = line.removeprefix(f"{type(e).__module__}.{type(e).__qualname__}: ")  # from a DataLoader worker
    if SKIP_HINT in line:
        return e
    return UnreadableImage(f"{line}; {SKIP_HINT}", e.path, e.reason)
