"""A whole dataset's labels as sparse matrices: what every format reader returns.

A ``LabelTable`` holds every split of a dataset at once, with clean and noisy labels as sparse
(N, K) boolean CSR matrices, so OpenImages (9M images x 6,012 classes, ~9 labels each) fits in
well under a gigabyte. Training takes one split at a time as a dense ``LabelledSet``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from ..errors import UserError

if TYPE_CHECKING:
    from .labelset import LabelledSet

SPLITS = ("train", "val", "test")
DENSE_LIMIT = 1 << 26  # label entries (N x K) up to which a split's labels are held densely (256 MiB float32)


def csr_from_lists(label_lists: Sequence[Iterable[int]], num_classes: int) -> sp.csr_matrix:
    """Per-row lists of class indices -> (N, K) bool CSR (duplicates within a row collapse)."""
    rows = [sorted(set(int(k) for k in labels)) for labels in label_lists]
    indptr = np.zeros(len(rows) + 1, dtype=np.int64)
    indptr[1:] = np.cumsum([len(r) for r in rows])
    indices = np.fromiter((k for r in rows for k in r), dtype=np.int32, count=int(indptr[-1]))
    return csr_from_parts(indptr, indices, num_classes)


def csr_from_parts(indptr: np.ndarray, indices: np.ndarray, num_classes: int) -> sp.csr_matrix:
    """A bool CSR matrix from its index arrays, without copying the data twice."""
    data = np.ones(len(indices), dtype=bool)
    return sp.csr_matrix((data, indices, indptr), shape=(len(indptr) - 1, num_classes))


def split_codes(names: Sequence[str], *, what: str) -> np.ndarray:
    """Split names -> uint8 codes into ``SPLITS``."""
    index = {s: i for i, s in enumerate(SPLITS)}
    out = np.empty(len(names), dtype=np.uint8)
    for i, s in enumerate(names):
        if s not in index:
            raise UserError(f"{what}: split '{s}' is not one of {list(SPLITS)}")
        out[i] = index[s]
    return out


@dataclass
class LabelTable:
    """Every image of a dataset with its split and its sparse clean / noisy labels.

    Attributes:
        classes: the K class names, in label-column order.
        ids: (N,) image ids (file names, COCO ids, OpenImages ImageIDs), unique.
        split: (N,) uint8 codes into ``SPLITS``.
        noisy: (N, K) bool CSR of noisy labels y; rows where ``has_noisy`` is False carry none.
        clean: (N, K) bool CSR of clean labels v; rows where ``has_clean`` is False carry none.
        has_noisy, has_clean: (N,) bool membership of D_n and D_c.
        verified: optional (N, K) bool CSR: the classes of a clean label a human actually checked
            (OpenImages verifies a few classes per image); None means every class is known.
        paths: optional (N,) image paths, relative to ``root`` unless absolute.
        root: folder of the images.
        multi_label: False for single-label datasets (CIFAR, Clothing1M): one class per label.
        features: optional (N, D) precomputed embeddings (the heads train on them directly).
        pixels: optional (N, H, W, C) uint8 images held in memory (CIFAR's python pickles).
        source: what the table was read from, for messages.
    """

    classes: list[str]
    ids: np.ndarray
    split: np.ndarray
    noisy: sp.csr_matrix
    clean: sp.csr_matrix
    has_noisy: np.ndarray
    has_clean: np.ndarray
    verified: sp.csr_matrix | None = None
    paths: np.ndarray | None = None
    root: Path | None = None
    multi_label: bool = True
    features: np.ndarray | None = None
    pixels: np.ndarray | None = None
    source: str = ""
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        n, k = len(self.ids), len(self.classes)
        for name in ("noisy", "clean", "verified"):
            m = getattr(self, name)
            if m is not None and m.shape != (n, k):
                raise UserError(f"{self.source}: {name} labels have shape {m.shape}, expected {(n, k)}")
        for name in ("split", "has_noisy", "has_clean", "paths", "features", "pixels"):
            a = getattr(self, name)
            if a is not None and len(a) != n:
                raise UserError(f"{self.source}: {name} has {len(a)} rows, expected {n}")

    @classmethod
    def human_labelled(
        cls,
        *,
        classes: list[str],
        ids: Sequence[str],
        paths: Sequence[str],
        splits: Sequence[str],
        labels: Sequence[Iterable[int]],
        root: Path,
        source: str,
        empty_note: str = "image(s) with an empty label set",
    ) -> LabelTable:
        """A multi-label table whose only labels are human annotations (clean; an empty set is known)."""
        n, k = len(ids), len(classes)
        table = cls(
            classes=classes,
            ids=np.asarray(ids, dtype=object),
            split=split_codes(splits, what=source),
            noisy=csr_from_lists([[] for _ in range(n)], k),
            clean=csr_from_lists(labels, k),
            has_noisy=np.zeros(n, bool),
            has_clean=np.ones(n, bool),
            paths=np.asarray(paths, dtype=object),
            root=root,
            multi_label=True,
            source=source,
        )
        empty = int((np.diff(table.clean.indptr) == 0).sum())
        if empty:
            table.notes.append(f"{empty} {empty_note}")
        return table

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def split_mask(self, split: str) -> np.ndarray:
        """(N,) bool: the rows of one split."""
        if split not in SPLITS:
            raise UserError(f"split '{split}' is not one of {list(SPLITS)}")
        return self.split == SPLITS.index(split)

    def splits(self) -> list[str]:
        """The splits present, in SPLITS order."""
        present = set(np.unique(self.split).tolist())
        return [s for i, s in enumerate(SPLITS) if i in present]

    def select(self, rows: np.ndarray) -> LabelTable:
        """The rows given by a bool mask or index array (a new table)."""
        rows = np.flatnonzero(rows) if np.asarray(rows).dtype == bool else np.asarray(rows, dtype=np.int64)
        pick = lambda a: None if a is None else a[rows]  # noqa: E731
        return replace(
            self,
            ids=self.ids[rows],
            split=self.split[rows],
            noisy=self.noisy[rows],
            clean=self.clean[rows],
            has_noisy=self.has_noisy[rows],
            has_clean=self.has_clean[rows],
            verified=pick(self.verified),
            paths=pick(self.paths),
            features=pick(self.features),
            pixels=pick(self.pixels),
            notes=list(self.notes),
        )

    def clean_draw(self, fraction: float, seed: int = 0) -> np.ndarray:
        """(N,) bool: a seeded ``fraction`` of the train split, drawn among train images with a clean label."""
        if not 0 < fraction <= 1:
            raise UserError(f"clean fraction must be in (0, 1], got {fraction}")
        train = self.split_mask("train")
        candidates = np.flatnonzero(train & self.has_clean)
        want = max(1, round(fraction * int(train.sum())))
        if not len(candidates):
            raise UserError(f"{self.source}: no train image has a clean label to keep")
        if want > len(candidates):
            raise UserError(
                f"{self.source}: {fraction:.0%} of {int(train.sum()):,} train images is {want:,} "
                f"clean images, but only {len(candidates):,} have a clean label"
            )
        keep = np.zeros(len(self), bool)
        keep[np.random.default_rng(seed).permutation(candidates)[:want]] = True
        return keep

    def with_clean_fraction(self, fraction: float, seed: int = 0) -> LabelTable:
        """Keep clean labels on a seeded ``fraction`` of the train split only (the paper's 5/10/20%).

        The draw is among train images that have a clean label; the others lose it (their noisy
        label stays). Clean images keep their noisy labels: Veit et al. train on those pairs.
        Other splits are unchanged (they are evaluated on clean labels).
        """
        keep = self.clean_draw(fraction, seed)
        drop = self.split_mask("train") & self.has_clean & ~keep
        rows = sp.diags((~drop).astype(np.int8), dtype=np.int8).tocsr()
        out = replace(
            self,
            clean=(rows @ self.clean).astype(bool).tocsr(),
            has_clean=self.has_clean & ~drop,
            verified=None if self.verified is None else (rows @ self.verified).astype(bool).tocsr(),
            notes=list(self.notes),
        )
        out.notes.append(
            f"clean labels kept on {int(keep.sum()):,} of {int(self.split_mask('train').sum()):,} "
            f"train images ({fraction:.0%}, seed {seed})"
        )
        return out

    def image_paths(self, rows: np.ndarray | None = None) -> list[str]:
        """Resolved image paths of the given rows (all by default)."""
        if self.paths is None:
            raise UserError(f"{self.source}: this dataset has no image files")
        paths = self.paths if rows is None else self.paths[rows]
        root = self.root or Path(".")
        return [str(root / (p.decode() if isinstance(p, bytes) else str(p))) for p in paths]

    def label_names(self, matrix: sp.csr_matrix, row: int) -> list[str]:
        """Class names of one row of a label matrix."""
        return [self.classes[k] for k in matrix.indices[matrix.indptr[row] : matrix.indptr[row + 1]]]

    def to_labelled_set(
        self, split: str, *, classes: Sequence[str] | None = None, dense_limit: int = DENSE_LIMIT
    ) -> LabelledSet:
        """One split as a ``LabelledSet`` for training or evaluation.

        Args:
            split: train | val | test.
            classes: a class list to map onto (a checkpoint's); a class of this table outside it is
                an error, classes of it absent here get all-zero columns.
            dense_limit: label matrices with more entries (N x K) stay sparse CSR; batches then
                densify only their own rows (OpenImages' 9M x 6,012 would need 216 GB dense).
        """
        from .labelset import LabelledSet  # torch: only when a split is trained on

        rows = np.flatnonzero(self.split_mask(split))
        if not len(rows):
            raise UserError(f"{self.source}: no images in split '{split}'")
        part = self.select(rows)
        noisy, clean, mask = part.noisy, part.clean, part.verified
        if classes is not None and list(classes) != self.classes:
            order = _column_map(self.classes, list(classes), what=self.source)
            move = sp.csr_matrix(
                (np.ones(len(order), bool), (np.arange(len(order)), order)), shape=(len(order), len(classes))
            )
            noisy, clean = (noisy @ move).astype(bool), (clean @ move).astype(bool)
            mask = None if mask is None else (mask @ move).astype(bool)
        if noisy.shape[0] * noisy.shape[1] <= dense_limit:
            noisy, clean = noisy.toarray(), clean.toarray()
            mask = None if mask is None else mask.toarray()
        if part.features is not None:
            images = np.asarray(part.features)
        elif part.pixels is not None:
            import torch

            images = torch.from_numpy(np.ascontiguousarray(part.pixels)).permute(0, 3, 1, 2).float().div_(255)
        else:
            images = part.image_paths()
        ids = [i.decode() if isinstance(i, bytes) else str(i) for i in part.ids]
        return LabelledSet(
            images=images,
            classes=list(classes or self.classes),
            noisy=noisy.astype(np.float32),
            clean=clean.astype(np.float32),
            has_noisy=part.has_noisy,
            has_clean=part.has_clean,
            clean_mask=mask,
            ids=ids,
        )


def _column_map(have: list[str], want: list[str], *, what: str) -> np.ndarray:
    index = {c: j for j, c in enumerate(want)}
    unknown = [c for c in have if c not in index]
    if unknown:
        raise UserError(f"{what}: class '{unknown[0]}' is not one of the checkpoint's {len(want)} classes")
    return np.asarray([index[c] for c in have], dtype=np.int64)
