"""OpenImages v1 (2016_08 release) with the Veit et al. (CVPR 2017) partition the paper follows.

Files (as the release's tarballs unpack; a flat ``train/`` ``validation/`` layout also works):

- ``images_2016_08/{train,validation}/images.csv``: ``ImageID,Subset,OriginalURL,...``
- ``machine_ann_2016_08/{train,validation}/labels.csv``: ``ImageID,Source,LabelName,Confidence``
  (machine labels: the noisy labels; kept when Confidence >= ``min_confidence``)
- ``human_ann_2016_08/validation/labels.csv``: the same columns; Confidence 1 = verified present,
  0 = verified absent (the clean labels, and which classes were verified)
- ``dict.csv``: ``"mid","display name"`` without header (the class descriptions); optional
  ``classes.txt``: the trainable classes, one mid per line (the paper's 6,012)

Partition: train = every train image (noisy) + a seeded quarter of validation (clean, with their machine
labels too, the pairs Veit et al. need, and a per-class mask: only verified classes count); test = the other
three quarters. ImageIDs (16 hex digits) are parsed to 64-bit integers and the CSVs read in chunks, so 9M
images with ~80M labels stay within about 2 GiB.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from ...errors import UserError
from ...options import option
from ..csvio import csv_chunks
from ..table import LabelTable
from .openimages_ids import format_ids, image_paths, parse_ids
from .registry import Layout

if TYPE_CHECKING:
    import pandas as pd

CHUNK_ROWS = 1_000_000
SUBSETS = ("train", "validation")


def _find(root: Path, *candidates: str, required: bool = True) -> Path | None:
    for c in candidates:
        if (root / c).is_file():
            return root / c
    if required:
        raise UserError(f"OpenImages file not found in {root}: looked for {', '.join(candidates)}")
    return None


def _chunks(path: Path, columns: list[str], bar) -> Iterator[tuple[int, pd.DataFrame]]:
    """(first line number, chunk) of the needed columns as strings; a missing column is an error."""
    for line, chunk in csv_chunks(path, required=columns, usecols=columns, chunk_rows=CHUNK_ROWS):
        yield line, chunk
        bar.update(len(chunk))


def _ids_of(chunk_ids: np.ndarray, path: Path, line: int) -> np.ndarray:
    try:
        return parse_ids(chunk_ids)
    except ValueError as e:
        i = int(e.args[0])
        raise UserError(f"{path}:{line + i}: malformed ImageID '{chunk_ids[i]}' (expected 16 hex digits)") from None


def read_class_descriptions(root: Path) -> tuple[list[str], dict[str, str]]:
    """(trainable class mids, mid -> display name) from dict.csv (+ classes.txt when present)."""
    import pandas as pd

    path = _find(root, "dict.csv", "class-descriptions.csv")
    try:
        desc = pd.read_csv(path, header=None, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        raise UserError(f"{path}: malformed class descriptions ({str(e).strip().splitlines()[-1]})") from None
    if desc.shape[1] < 2 or not desc[0].str.startswith("/").all():
        raise UserError(f'{path}: expected rows "/m/...","name" without a header')
    names = dict(zip(desc[0], desc[1]))
    trainable = _find(root, "classes.txt", "classes-trainable.txt", required=False)
    if trainable is None:
        return list(names), names
    mids = [s.strip().split(",")[0].strip('"') for s in trainable.read_text(encoding="utf-8").splitlines() if s.strip()]
    unknown = [m for m in mids if m not in names]
    if unknown:
        raise UserError(f"{trainable}: class id '{unknown[0]}' is not in {path.name} ({len(unknown)} unknown)")
    return mids, names


def read_openimages(
    root: str | Path,
    *,
    images: str | Path | None = None,
    min_confidence: float = 0.5,
    clean_share: float = 0.25,
    seed: int = 0,
    check_files: bool = True,
    quiet: bool = False,
) -> LabelTable:
    """The OpenImages v1 release under ``root`` as a table with the Veit et al. partition.

    Args:
        root: the folder the release's tarballs were unpacked in.
        images: folder with ``train/<ImageID>.jpg`` and ``validation/<ImageID>.jpg`` (default
            ``root/images``); the release ships URLs only, so users download these themselves.
        min_confidence: machine labels below it are dropped (the release's are >= 0.5).
        clean_share: share of the validation images that joins train as the clean set.
        seed: seed of that draw.
        check_files: fail when image files are missing (counted, the first few named).
    """
    import pandas as pd

    from ...progress import progress

    root = Path(root)
    images = Path(images) if images else root / "images"
    mids, names = read_class_descriptions(root)
    class_index = {m: k for k, m in enumerate(mids)}
    bar = progress(desc="openimages rows", unit="rows", unit_scale=True, quiet=quiet)
    # 1. every image id, train first
    ids_parts = []
    for subset in SUBSETS:
        path = _find(root, f"images_2016_08/{subset}/images.csv", f"{subset}/images.csv")
        ids_parts.append(
            np.concatenate(
                [_ids_of(c["ImageID"].to_numpy(), path, line) for line, c in _chunks(path, ["ImageID"], bar)]
                or [np.zeros(0, np.uint64)]
            )
        )
    n_train = len(ids_parts[0])
    ids = np.concatenate(ids_parts)
    del ids_parts
    order = np.argsort(ids, kind="stable")
    sorted_ids = ids[order]
    dup = np.flatnonzero(sorted_ids[1:] == sorted_ids[:-1])
    if len(dup):
        raise UserError(
            f"{root}: duplicate ImageID {format_ids(sorted_ids[dup[:1]])[0].decode()} in images.csv "
            f"({len(dup)} duplicates)"
        )
    n, k = len(ids), len(mids)
    skipped = {"untrainable": 0}

    def read_labels(path: Path, keep_from: float, *targets: _PairAccumulator) -> None:
        """Stream one labels.csv into ``targets[0]`` (Confidence >= keep_from) and ``targets[1]`` (all)."""
        for line, c in _chunks(path, ["ImageID", "LabelName", "Confidence"], bar):
            chunk_ids = _ids_of(c["ImageID"].to_numpy(), path, line)
            pos = np.minimum(np.searchsorted(sorted_ids, chunk_ids), n - 1)  # noqa: F821
            unknown = np.flatnonzero(sorted_ids[pos] != chunk_ids) if n else np.arange(len(chunk_ids))  # noqa: F821
            if len(unknown):
                raise UserError(
                    f"{path}:{line + unknown[0]}: ImageID {c['ImageID'].iat[unknown[0]]} is not in "
                    f"images.csv ({len(unknown)} such rows in this chunk)"
                )
            col = c["LabelName"].map(class_index).fillna(-1).to_numpy(dtype=np.int32)
            outside = np.flatnonzero(col < 0)
            if len(outside):
                label = c["LabelName"].to_numpy()
                bad = [i for i in outside if label[i] not in names]
                if bad:
                    raise UserError(
                        f"{path}:{line + bad[0]}: unknown class id '{label[bad[0]]}' (not in the class "
                        f"descriptions; {len(bad)} such rows in this chunk)"
                    )
                skipped["untrainable"] += len(outside)
            conf = pd.to_numeric(c["Confidence"], errors="coerce").to_numpy(dtype=np.float32)
            if np.isnan(conf).any():
                bad_row = int(np.flatnonzero(np.isnan(conf))[0])
                raise UserError(f"{path}:{line + bad_row}: malformed Confidence '{c['Confidence'].iat[bad_row]}'")
            ok = col >= 0
            rows, cols, conf = order[pos[ok]].astype(np.int32), col[ok], conf[ok]  # noqa: F821
            keep = conf >= keep_from
            targets[0].add(rows[keep], cols[keep])
            if len(targets) > 1:
                targets[1].add(rows, cols)

    machine = _PairAccumulator(n, k)
    for subset in SUBSETS:
        read_labels(
            _find(
                root, f"machine_ann_2016_08/{subset}/labels.csv", f"{subset}/machine-labels.csv", f"{subset}/labels.csv"
            ),
            min_confidence,
            machine,
        )
    noisy = machine.to_csr()
    del machine
    human, checked = _PairAccumulator(n, k), _PairAccumulator(n, k)
    read_labels(
        _find(root, "human_ann_2016_08/validation/labels.csv", "validation/human-labels.csv"), 0.5, human, checked
    )
    clean, verified = human.to_csr(), checked.to_csr()
    bar.close()
    # 2. the Veit et al. partition of validation: a seeded quarter trains (clean), the rest tests
    n_val = n - n_train
    into_train = np.zeros(n_val, bool)
    into_train[np.random.default_rng(seed).permutation(n_val)[: round(clean_share * n_val)]] = True
    split = np.concatenate([np.zeros(n_train, np.uint8), np.where(into_train, 0, 2).astype(np.uint8)])
    is_val = np.arange(n) >= n_train
    has_clean = is_val & (np.diff(verified.indptr) > 0)
    hex_ids = format_ids(ids)
    del ids, order, sorted_ids
    paths = image_paths(hex_ids, is_val)
    table = LabelTable(
        classes=[names[m] for m in mids],
        ids=hex_ids,
        split=split,
        noisy=noisy,
        clean=clean,
        has_noisy=np.diff(noisy.indptr) > 0,
        has_clean=has_clean,
        verified=verified,
        paths=paths,
        root=images,
        multi_label=True,
        source=f"openimages {root}",
    )
    table.notes.append(f"class ids {mids[:3]}... are shown by display name; {k} classes")
    if skipped["untrainable"]:
        table.notes.append(f"{skipped['untrainable']:,} label rows of classes outside the trainable list skipped")
    if check_files:
        _check_openimages_files(table, quiet)
    return table


class _PairAccumulator:
    """(row, class) pairs gathered chunk by chunk and turned into CSR by a counting sort.

    Holds 6 bytes per pair (int32 row, int16 class) until ``to_csr``, which places each chunk
    straight into the final index array and frees it: no global sort, no concatenated copy.
    """

    def __init__(self, n: int, k: int) -> None:
        self.n, self.k = n, k
        self.rows: list[np.ndarray] = []
        self.cols: list[np.ndarray] = []
        self.counts = np.zeros(n, dtype=np.int64)

    def add(self, rows: np.ndarray, cols: np.ndarray) -> None:
        self.rows.append(rows.astype(np.int32))
        self.cols.append(cols.astype(np.int16 if self.k < 32767 else np.int32))
        self.counts += np.bincount(rows, minlength=self.n)

    def to_csr(self) -> sp.csr_matrix:
        indptr = np.zeros(self.n + 1, dtype=np.int64)
        np.cumsum(self.counts, out=indptr[1:])
        indices = np.empty(int(indptr[-1]), dtype=np.int32)
        cursor = indptr[:-1].copy()
        while self.rows:
            rows, cols = self.rows.pop(0), self.cols.pop(0)
            if not len(rows):
                continue
            order = np.argsort(rows, kind="stable")
            rows, cols = rows[order], cols[order]
            starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
            rank = np.arange(len(rows)) - np.repeat(starts, np.diff(np.r_[starts, len(rows)]))
            indices[cursor[rows] + rank] = cols
            cursor[rows[starts]] += np.diff(np.r_[starts, len(rows)])
        m = sp.csr_matrix((np.ones(len(indices), dtype=bool), indices, indptr), shape=(self.n, self.k))
        m.sum_duplicates()  # a label listed twice for one image counts once
        return m


def _check_openimages_files(table: LabelTable, quiet: bool, limit: int = 3) -> None:
    """Count missing image files with one stat each (a 9M-name listing would not fit the memory budget)."""
    from ...progress import progress

    root = table.root or Path(".")
    missing, first = 0, []
    for p in progress(table.paths, desc="checking images", unit="images", unit_scale=True, quiet=quiet):
        full = os.path.join(root, p.decode())
        if not os.path.isfile(full):
            missing += 1
            if len(first) < limit:
                first.append(full)
    if missing:
        raise UserError(
            f"openimages: {missing:,} of {len(table):,} image file(s) not found: {', '.join(first)}"
            + (" ..." if missing > limit else "")
            + " (--no-image-check to skip)"
        )


@dataclass
class OpenImagesOptions:
    """``--format openimages``: the v1 release, its images and the seed of the clean quarter."""

    root: str | None = option(None, "dataset folder: the release's tarballs unpacked")
    images: str | None = option(None, "folder with train/ and validation/ images (default ROOT/images)")
    seed: int = option(0, "seed of random partitions (the clean quarter of validation)")
    check_images: bool = option(True, "do not check that every image file exists", flag="--no-image-check")


def _read(o: OpenImagesOptions, *, classes: list[str] | None, quiet: bool) -> LabelTable:
    return read_openimages(str(o.root), images=o.images, seed=o.seed, check_files=o.check_images, quiet=quiet)


LAYOUT = Layout("openimages", OpenImagesOptions, _read, required=("root",))
