"""The data model: images with unpaired clean and noisy multi-hot labels (paper sec. 3.1).

D = D_n ∪ D_c. A sample may carry a noisy label, a clean label, or both; clean images need
no noisy label and noisy images no clean label. Single-label data is the one-hot case.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TypeAlias

import numpy as np
import scipy.sparse as sp
import torch

from ..errors import UserError

Images: TypeAlias = torch.Tensor | np.ndarray | Sequence[str]
Labels: TypeAlias = np.ndarray | sp.csr_matrix


def _as_labels(m: object, dtype: type) -> Labels:
    """Dense labels as a numpy array of ``dtype``; sparse ones stay CSR (rows are densified on use).
    Labels already of that type are not copied."""
    return m.tocsr().astype(dtype, copy=False) if sp.issparse(m) else np.asarray(m, dtype=dtype)


class RowIds(Sequence[str]):
    """The ids "0" .. "N-1" of N array rows, made when asked for (a list of 9M strings takes ~600 MB)."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int | slice) -> str | list[str]:
        if isinstance(i, slice):
            return [str(j) for j in range(self.n)[i]]
        return str(range(self.n)[i])


def dense_rows(m: Labels, rows: np.ndarray) -> np.ndarray:
    """Rows of a dense or CSR label matrix as a dense array."""
    return m[rows].toarray() if sp.issparse(m) else m[rows]


def multi_hot(label_lists: Sequence[Sequence[int]], num_classes: int, *, what: str = "labels") -> np.ndarray:
    """Turn per-sample lists of class indices into an (N, K) float32 multi-hot matrix.

    Raises:
        UserError: an index outside ``[0, num_classes)``, naming the sample.
    """
    out = np.zeros((len(label_lists), num_classes), dtype=np.float32)
    for row, labels in enumerate(label_lists):
        for k in labels:
            if not 0 <= int(k) < num_classes:
                raise UserError(f"{what}: sample {row} has class index {k}, expected 0..{num_classes - 1}")
            out[row, int(k)] = 1.0
    return out


def one_hot(labels: Sequence[int], num_classes: int, *, what: str = "labels") -> np.ndarray:
    """(N,) class indices -> (N, K) one-hot float32 matrix (single-label is the one-hot case)."""
    return multi_hot([[int(k)] for k in labels], num_classes, what=what)


def clean_subset(n: int, fraction: float, seed: int, *, stream: int = 0) -> np.ndarray:
    """(N,) bool: a seeded ``fraction`` of N samples (at least one) forms the clean set D_c.

    ``stream`` separates the random streams of different datasets built from the same seed.
    """
    is_clean = np.zeros(n, dtype=bool)
    is_clean[np.random.default_rng([seed, stream]).permutation(n)[: max(1, round(n * fraction))]] = True
    return is_clean


@dataclass
class LabelledSet:
    """Images plus clean and noisy multi-hot labels over named classes.

    Attributes:
        images: a float tensor (N, C, H, W) of [0, 1] pixels, N image file paths, or precomputed
            features (N, D) as a numpy array / memmap or tensor (the heads then train on them directly).
        classes: the K class names, in label-column order.
        noisy: (N, K) float32 multi-hot noisy labels y; rows where ``has_noisy`` is False are ignored.
            Dense, or a scipy CSR matrix for label spaces too large to hold densely (OpenImages:
            9M x 6,012); batches densify only their own rows.
        clean: (N, K) float32 multi-hot clean labels v, dense or CSR; rows where ``has_clean`` is
            False are ignored.
        has_noisy: (N,) bool, membership of D_n.
        has_clean: (N,) bool, membership of D_c.
        clean_mask: optional (N, K) bool: which classes of a clean label are actually known
            (OpenImages verifies only some classes per image). Unknown entries add nothing to L_clean;
            rows without a clean label are never read. Dense or CSR.
        ids: optional N sample ids (paths by default; row numbers, made on demand, for arrays) for
            reports and error messages.
        decoded: every image file was decoded once and those that do not decode left out
            (``data.decode.drop_unreadable``), so ``skip_unreadable`` does not decode them again.
    """

    images: Images
    classes: list[str]
    noisy: Labels
    clean: Labels
    has_noisy: np.ndarray
    has_clean: np.ndarray
    clean_mask: Labels | None = None
    ids: Sequence[str] = field(default_factory=list)
    decoded: bool = False

    def __post_init__(self) -> None:
        n, k = len(self.images), len(self.classes)
        self.noisy = _as_labels(self.noisy, np.float32)
        self.clean = _as_labels(self.clean, np.float32)
        self.has_noisy = np.asarray(self.has_noisy, dtype=bool)
        self.has_clean = np.asarray(self.has_clean, dtype=bool)
        for name, arr, shape in [
            ("noisy", self.noisy, (n, k)),
            ("clean", self.clean, (n, k)),
            ("has_noisy", self.has_noisy, (n,)),
            ("has_clean", self.has_clean, (n,)),
        ]:
            if arr.shape != shape:
                raise UserError(f"LabelledSet.{name} has shape {arr.shape}, expected {shape}")
        for name, arr in [("noisy", self.noisy), ("clean", self.clean)]:
            if not np.isin(arr.data if sp.issparse(arr) else arr, (0.0, 1.0)).all():
                raise UserError(f"LabelledSet.{name} must be multi-hot (0/1 only)")
        if self.clean_mask is not None:
            self.clean_mask = _as_labels(self.clean_mask, bool)
            if self.clean_mask.shape != (n, k):
                raise UserError(f"LabelledSet.clean_mask has shape {self.clean_mask.shape}, expected {(n, k)}")
        if not len(self.ids):
            self.ids = RowIds(n) if self.holds_arrays else [str(p) for p in self.images]

    def __len__(self) -> int:
        return len(self.images)

    @property
    def holds_arrays(self) -> bool:
        """True for in-memory pixels or features, False for image file paths."""
        return isinstance(self.images, (torch.Tensor, np.ndarray))

    @property
    def holds_features(self) -> bool:
        """True when ``images`` are precomputed features (N, D)."""
        return self.holds_arrays and self.images.ndim == 2

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def clean_indices(self) -> np.ndarray:
        """Indices of D_c."""
        return np.flatnonzero(self.has_clean)

    @property
    def noisy_indices(self) -> np.ndarray:
        """Indices of D_n."""
        return np.flatnonzero(self.has_noisy)

    @property
    def is_single_label(self) -> bool:
        """True when every present label row has exactly one positive class."""
        counts = [
            np.asarray(m.sum(1)).ravel()[has] for m, has in ((self.noisy, self.has_noisy), (self.clean, self.has_clean))
        ]
        rows = np.concatenate(counts)
        return bool(len(rows)) and bool((rows == 1).all())

    def clean_rows(self, rows: np.ndarray) -> np.ndarray:
        """Dense clean labels of ``rows`` (float32)."""
        return dense_rows(self.clean, rows)

    def noisy_rows(self, rows: np.ndarray) -> np.ndarray:
        """Dense noisy labels of ``rows`` (float32)."""
        return dense_rows(self.noisy, rows)

    def known_rows(self, rows: np.ndarray) -> np.ndarray:
        """(len(rows), K) bool: the clean-label entries of ``rows`` that count in L_clean."""
        if self.clean_mask is None:
            return np.ones((len(rows), self.num_classes), dtype=bool)
        return dense_rows(self.clean_mask, rows)

    def subset(self, index: Sequence[int]) -> LabelledSet:
        """The samples at ``index`` (a new set; label arrays are copied)."""
        index = np.asarray(index, dtype=np.int64)
        if isinstance(self.images, torch.Tensor):
            images: Images = self.images[torch.as_tensor(index)]
        elif isinstance(self.images, np.ndarray):
            images = np.asarray(self.images[index])
        else:
            images = [self.images[i] for i in index]
        return LabelledSet(
            images=images,
            classes=list(self.classes),
            noisy=self.noisy[index],
            clean=self.clean[index],
            has_noisy=self.has_noisy[index],
            has_clean=self.has_clean[index],
            clean_mask=None if self.clean_mask is None else self.clean_mask[index],
            ids=[self.ids[i] for i in index],
            decoded=self.decoded,
        )

    def require(self, *, clean: bool, noisy: bool, where: str) -> None:
        """Fail with one clear line when D_c or D_n is empty but needed."""
        if clean and not self.has_clean.any():
            raise UserError(f"{where}: the clean set D_c is empty (no sample has a clean label)")
        if noisy and not self.has_noisy.any():
            raise UserError(f"{where}: the noisy set D_n is empty (no sample has a noisy label)")


def concat_sets(a: LabelledSet, b: LabelledSet) -> LabelledSet:
    """The samples of ``a`` then ``b`` (same classes; images of the same kind: paths, pixels or features)."""
    if a.classes != b.classes:
        raise UserError(f"cannot join sets over different classes ({a.classes[:3]}... and {b.classes[:3]}...)")
    if isinstance(a.images, torch.Tensor) and isinstance(b.images, torch.Tensor):
        images: Images = torch.cat([a.images, b.images])
    elif isinstance(a.images, np.ndarray) and isinstance(b.images, np.ndarray):
        images = np.concatenate([a.images, b.images])
    elif not a.holds_arrays and not b.holds_arrays:
        images = list(a.images) + list(b.images)
    else:
        raise UserError("cannot join image files with in-memory arrays: give both sets the same kind of images")
    stack = (
        (lambda x, y: sp.vstack([sp.csr_matrix(x), sp.csr_matrix(y)]).tocsr())
        if sp.issparse(a.noisy) or sp.issparse(b.noisy)
        else (lambda x, y: np.concatenate([x, y]))
    )
    masks = (
        None
        if a.clean_mask is None and b.clean_mask is None
        else [np.ones((len(s), s.num_classes), bool) if s.clean_mask is None else s.clean_mask for s in (a, b)]
    )
    return LabelledSet(
        images=images,
        classes=list(a.classes),
        noisy=stack(a.noisy, b.noisy),
        clean=stack(a.clean, b.clean),
        has_noisy=np.r_[a.has_noisy, b.has_noisy],
        has_clean=np.r_[a.has_clean, b.has_clean],
        clean_mask=None if masks is None else stack(*masks),
        ids=_joined_ids(a.ids, b.ids),
        decoded=a.decoded and b.decoded,
    )


def _joined_ids(a: Sequence[str], b: Sequence[str]) -> Sequence[str]:
    """The ids of a joined set: row numbers again when both sides number their array rows."""
    return RowIds(len(a) + len(b)) if isinstance(a, RowIds) and isinstance(b, RowIds) else list(a) + list(b)


def validation_rows(data: LabelledSet, fraction: float, seed: int) -> np.ndarray:
    """(N,) bool: a seeded ``fraction`` of the clean set D_c held out for validation.

    Drawn from the clean budget only (never from a test split), the same for every method given the
    same data and seed. Where possible every class has at least one positive in validation and one
    left for training: a class the random draw misses gets one of its clean images moved over.
    """
    if not 0 <= fraction < 1:
        raise UserError(f"validation fraction must be in [0, 1), got {fraction}")
    clean = data.clean_indices
    out = np.zeros(len(data), bool)
    want = int(round(fraction * len(clean)))
    if fraction == 0 or want == 0 or len(clean) < 2:
        return out
    order = np.random.default_rng([seed, 23]).permutation(clean)
    out[order[:want]] = True
    labels = data.clean[order]  # the clean rows only, kept sparse when the labels are
    by_class = sp.csc_matrix(labels > 0.5 if sp.issparse(labels) else np.asarray(labels) > 0.5)
    by_class.sort_indices()
    for k in range(data.num_classes):
        pos = order[by_class.indices[by_class.indptr[k] : by_class.indptr[k + 1]]]  # in draw order
        if len(pos) >= 2 and not out[pos].any():
            out[pos[0]] = True
        if len(pos) >= 2 and out[pos].all():  # keep one for training
            out[pos[-1]] = False
    return out


def split_validation(data: LabelledSet, fraction: float, seed: int) -> tuple[LabelledSet, LabelledSet | None]:
    """(training set, validation set) from ``validation_rows``; the validation set is None when nothing
    is held out.

    The validation images leave D_c and D_n (neither label is trained on) but keep their rows, so
    the training set's images, features and cache are not copied; the validation set is a copy of
    those rows with their clean labels only.
    """
    rows = validation_rows(data, fraction, seed)
    if not rows.any():
        return data, None
    val = data.subset(np.flatnonzero(rows))
    val.has_noisy = np.zeros(len(val), bool)
    return replace(data, has_clean=data.has_clean & ~rows, has_noisy=data.has_noisy & ~rows), val
