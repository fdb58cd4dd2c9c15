import numpy as np
import pytest

from noisereg.data.sampler import MixedBatchSampler, clean_count
from noisereg.errors import UserError


def test_default_ratio_is_one_to_nine_with_batch_32():
    s = MixedBatchSampler(np.arange(10), np.arange(10, 200), seed=0)
    b = s.batch(0)
    assert (len(b.clean), len(b.noisy)) == (3, 29)


@pytest.mark.parametrize(
    "batch,ratio,expected",
    [(32, 0.1, 3), (10, 0.1, 1), (100, 0.1, 10), (40, 0.5, 20), (8, 0.0, 0), (8, 1.0, 8), (2, 0.01, 1)],
)
def test_clean_count(batch, ratio, expected):
    assert clean_count(batch, ratio) == expected


def test_batches_draw_from_the_right_sets_with_clean_replacement():
    clean, noisy = np.arange(3), np.arange(100, 400)
    s = MixedBatchSampler(clean, noisy, batch_size=20, clean_ratio=0.5, seed=1)
    batches = [s.batch(t) for t in range(30)]
    assert all(set(b.clean) <= set(clean) and set(b.noisy) <= set(noisy) for b in batches)
    assert any(len(set(b.clean)) < len(b.clean) for b in batches)  # 10 draws from 3: replacement


def test_noisy_set_is_covered_once_per_epoch():
    noisy = np.arange(50)
    s = MixedBatchSampler(np.arange(5), noisy, batch_size=10, clean_ratio=0.1, seed=0)
    seen = np.concatenate([s.batch(t).noisy for t in range(s.steps_per_epoch())])[:50]
    assert sorted(seen) == list(noisy)


def test_seeded_and_random_access():
    a = MixedBatchSampler(np.arange(10), np.arange(10, 90), seed=3)
    b = MixedBatchSampler(np.arange(10), np.arange(10, 90), seed=3)
    c = MixedBatchSampler(np.arange(10), np.arange(10, 90), seed=4)
    later = [a.batch(t) for t in range(7)]
    assert np.array_equal(b.batch(6).noisy, later[6].noisy) and np.array_equal(b.batch(6).clean, later[6].clean)
    assert not np.array_equal(c.batch(0).noisy, a.batch(0).noisy)


def test_empty_sets_are_refused():
    with pytest.raises(UserError, match="clean set D_c is empty"):
        MixedBatchSampler(np.array([], int), np.arange(5))
    with pytest.raises(UserError, match="noisy set D_n is empty"):
        MixedBatchSampler(np.arange(5), np.array([], int))
    with pytest.raises(UserError, match="clean ratio"):
        clean_count(32, 1.5)


@pytest.mark.parametrize(
    "batch, ratio, world",
    [(20, 0.1, 2), (32, 0.1, 2), (40, 0.1, 4), (30, 0.2, 3), (16, 0.0, 2), (7, 0.5, 3), (3, 0.1, 3)],
)
def test_ranks_hold_consecutive_blocks_of_the_batch_one_process_draws(batch, ratio, world):
    """N processes train on exactly the samples of one, also when the clean count does not split over
    the ranks (batch 32 at 0.1: 3 clean + 29 noisy in all, rank 0 3 + 13, rank 1 16 noisy)."""
    clean, noisy = np.arange(10), np.arange(10, 300)
    single = MixedBatchSampler(clean, noisy, batch_size=batch, clean_ratio=ratio, seed=5)
    ranks = [
        MixedBatchSampler(clean, noisy, batch_size=batch, clean_ratio=ratio, seed=5, rank=r, world_size=world)
        for r in range(world)
    ]
    assert all(s.steps_per_epoch() == single.steps_per_epoch() for s in ranks)
    for t in (0, 1, 17):
        whole, parts = single.batch(t), [s.batch(t) for s in ranks]
        assert [len(p.clean) + len(p.noisy) for p in parts] == [len(b) for b in np.array_split(range(batch), world)]
        np.testing.assert_array_equal(np.concatenate([p.clean for p in parts]), whole.clean)
        np.testing.assert_array_equal(np.concatenate([p.noisy for p in parts]), whole.noisy)
        assert all(not len(p.clean) for p in parts[1:] if len(parts[0].noisy))  # clean rows first, in rank order


def test_a_batch_smaller_than_the_processes_is_refused():
    with pytest.raises(UserError, match="batch size 2 is smaller than the 3 processes"):
        MixedBatchSampler(np.arange(5), np.arange(5, 50), batch_size=2, rank=0, world_size=3)
