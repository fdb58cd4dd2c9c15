"""2x2 mosaics: multi-label images made of four single-label images, labelled by the union of the tiles."""

from __future__ import annotations

import numpy as np

from ..errors import UserError


def union_labels(labels: np.ndarray, tiles: np.ndarray, num_classes: int) -> np.ndarray:
    """(n, K) multi-hot: for each mosaic the union of its tiles' class indices."""
    out = np.zeros((len(tiles), num_classes), np.float32)
    np.put_along_axis(out, labels[tiles], 1.0, axis=1)
    return out


def mosaics(
    images: np.ndarray, labels: np.ndarray, n: int, *, seed: int, num_classes: int = 10
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n`` seeded 2x2 mosaics of ``images`` (N, H, W[, C]).

    Returns:
        mosaics (n, 2H, 2W[, C]); tiles (n, 4) indices into ``images`` (row-major order); multi-hot
        labels (n, K) = the union of the tiles' classes.
    """
    tiles = np.random.default_rng([seed, 3]).integers(0, len(images), size=(n, 4))
    return assemble(images[tiles]), tiles, union_labels(labels, tiles, num_classes)


def assemble(tiles: np.ndarray) -> np.ndarray:
    """(n, 4, H, W[, C]) tiles -> (n, 2H, 2W[, C]) mosaics, the tiles in row-major order."""
    top = np.concatenate([tiles[:, 0], tiles[:, 1]], 2)
    bottom = np.concatenate([tiles[:, 2], tiles[:, 3]], 2)
    return np.concatenate([top, bottom], 1)


def disjoint_mosaics(n_images: int, n: int, *, seed: int) -> np.ndarray:
    """(n, 4) tile indices of ``n`` mosaics that use each of ``n_images`` images at most once.

    Any two sets of these mosaics (clean, noisy, validation) then share no image; drawing tiles with
    replacement would let validation mosaics reuse training images.
    """
    if not 1 <= n <= n_images // 4:
        raise UserError(
            f"{n:,} mosaics need {4 * n:,} distinct images; there are {n_images:,} "
            f"(at most {n_images // 4:,} mosaics without reusing a tile)"
        )
    return np.random.default_rng([seed, 3]).permutation(n_images)[: 4 * n].reshape(n, 4)
