"""The paper's mixed batches: every batch draws clean:noisy samples in a fixed ratio (sec. 3.3, 1:9).

Batches are a pure function of (seed, step), so a resumed run sees exactly the batches the
uninterrupted run would have seen, and ranks of a distributed run can take disjoint slices.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import UserError


def clean_count(batch_size: int, clean_ratio: float) -> int:
    """How many of ``batch_size`` samples are clean for a clean share ``clean_ratio`` in [0, 1].

    A positive ratio always gives at least one clean sample, and a ratio below 1 at least one
    noisy sample, so both losses see data every step (1:9 with batch 32 gives 3 clean + 29 noisy).
    """
    if not 0.0 <= clean_ratio <= 1.0:
        raise UserError(f"clean ratio must be in [0, 1], got {clean_ratio}")
    if batch_size < 1:
        raise UserError(f"batch size must be >= 1, got {batch_size}")
    n = int(round(batch_size * clean_ratio))
    if clean_ratio > 0:
        n = max(n, 1)
    if clean_ratio < 1 and batch_size > 1:
        n = min(n, batch_size - 1)
    return n


@dataclass(frozen=True)
class MixedBatch:
    """Indices of one batch: ``clean`` rows come first, then ``noisy`` rows."""

    clean: np.ndarray
    noisy: np.ndarray


class MixedBatchSampler:
    """Seeded batches of (clean indices, noisy indices) in a fixed ratio.

    The small clean set is sampled with replacement; the noisy set is walked through one
    seeded permutation per epoch, so every noisy sample is seen once per epoch.

    Args:
        clean_indices: indices of D_c (may be empty when ``clean_ratio == 0``).
        noisy_indices: indices of D_n (may be empty when ``clean_ratio == 1``).
        batch_size: samples per batch (default 32 as in the paper).
        clean_ratio: share of clean samples per batch; 0.1 is the paper's 1:9.
        seed: seeds everything; batch ``t`` depends only on (seed, t).
        clean_weights, noisy_weights: optional per-row sampling weights (a balanced sampler: rows of
            rare classes weigh more); a weighted set is drawn with replacement, each batch independently.
        rank, world_size: data-parallel training: ``batch_size`` is the global batch, drawn as one process
            draws it (batch 32 at 0.1: 3 clean + 29 noisy) and cut into ``world_size`` consecutive blocks,
            clean rows first (rank 0: 3 + 13, rank 1: 16 noisy), so the ranks together hold exactly one
            process's batch; the trainer gathers the blocks' features before the losses (``Classifier``),
            so L_clean and L_noise are averaged over the global batch, never over a rank's block.
    """

    def __init__(
        self,
        clean_indices: np.ndarray,
        noisy_indices: np.ndarray,
        *,
        batch_size: int = 32,
        clean_ratio: float = 0.1,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        clean_weights: np.ndarray | None = None,
        noisy_weights: np.ndarray | None = None,
    ) -> None:
        if world_size < 1 or not 0 <= rank < world_size or batch_size < world_size:
            raise UserError(f"batch size {batch_size} is smaller than the {world_size} processes it is shared by")
        self.clean_indices = np.asarray(clean_indices, dtype=np.int64)
        self.noisy_indices = np.asarray(noisy_indices, dtype=np.int64)
        self.n_clean = clean_count(batch_size, clean_ratio)  # of the global batch
        self.n_noisy = batch_size - self.n_clean
        self.block = tuple(int(b) for b in np.array_split(np.arange(batch_size), world_size)[rank][[0, -1]] + [0, 1])
        self.seed = seed
        self._order: tuple[int, np.ndarray] = (-1, np.empty(0, dtype=np.int64))
        self._clean_cdf = _cdf(clean_weights, len(self.clean_indices), "clean")
        self._noisy_cdf = _cdf(noisy_weights, len(self.noisy_indices), "noisy")
        if self.n_clean and not len(self.clean_indices):
            raise UserError("the clean set D_c is empty but the batches need clean samples")
        if self.n_noisy and not len(self.noisy_indices):
            raise UserError("the noisy set D_n is empty but the batches need noisy samples")

    def _epoch_order(self, epoch: int) -> np.ndarray:
        if self._order[0] != epoch:  # one permutation per epoch, kept while the epoch lasts
            rng = np.random.default_rng([self.seed, 1, epoch])
            self._order = (epoch, self.noisy_indices[rng.permutation(len(self.noisy_indices))])
        return self._order[1]

    def batch(self, step: int) -> MixedBatch:
        """This rank's block of the global batch at ``step`` (0-based)."""
        rng = np.random.default_rng([self.seed, 0, step])
        clean = (
            self.clean_indices[_draw(rng, self._clean_cdf, len(self.clean_indices), self.n_clean)]
            if self.n_clean
            else np.empty(0, dtype=np.int64)
        )
        if self._noisy_cdf is not None and self.n_noisy:
            noisy = self.noisy_indices[
                _draw(
                    np.random.default_rng([self.seed, 2, step]), self._noisy_cdf, len(self.noisy_indices), self.n_noisy
                )
            ]
        else:
            noisy = self._noisy_slice(step * self.n_noisy, self.n_noisy)
        (lo, hi), c = self.block, self.n_clean
        return MixedBatch(clean=clean[min(lo, c) : min(hi, c)], noisy=noisy[max(lo - c, 0) : max(hi - c, 0)])

    def _noisy_slice(self, start: int, count: int) -> np.ndarray:
        if not count:
            return np.empty(0, dtype=np.int64)
        n = len(self.noisy_indices)
        out, pos = [], start
        while len(out) < count:
            epoch, offset = divmod(pos, n)
            take = min(count - len(out), n - offset)
            out.extend(self._epoch_order(epoch)[offset : offset + take])
            pos += take
        return np.asarray(out, dtype=np.int64)

    def steps_per_epoch(self) -> int:
        """Steps for one pass over D_n (or over D_c when batches are all clean)."""
        if self.n_noisy:
            return max(1, -(-len(self.noisy_indices) // self.n_noisy))
        return max(1, -(-len(self.clean_indices) // self.n_clean))


def _cdf(weights: np.ndarray | None, n: int, what: str) -> np.ndarray | None:
    """The cumulative distribution of ``n`` rows' sampling weights (None: uniform)."""
    if weights is None:
        return None
    weights = np.asarray(weights, dtype=np.float64)
    if weights.shape != (n,) or not np.isfinite(weights).all() or (weights < 0).any() or (n and not weights.sum() > 0):
        raise UserError(f"{what} sampling weights must be {n} finite non-negative numbers, not all 0")
    cdf = np.cumsum(weights)
    return cdf / cdf[-1] if n else cdf


def _draw(rng: np.random.Generator, cdf: np.ndarray | None, n: int, count: int) -> np.ndarray:
    """``count`` row positions out of ``n``, uniform or by the weights' ``cdf`` (with replacement)."""
    if cdf is None:
        return rng.integers(0, n, count)
    return np.minimum(np.searchsorted(cdf, rng.random(count), side="right"), n - 1)
