"""The top buckets of a head's category mixture equal the full sort's, ties and NaN included."""

from __future__ import annotations

import numpy as np
import pytest

from stream_app.model.heads import _top_candidates, top_buckets


def full_sort(pi: np.ndarray, count: int) -> np.ndarray:
    return np.argsort(-pi, axis=-1)[..., :count]


@pytest.mark.parametrize("size", [1024, 1000, 64, 8, 5])
def test_top_buckets_equal_the_full_sort(size: int) -> None:
    rng = np.random.default_rng(size)
    pi = rng.dirichlet(np.full(size, 0.3), (40, 4)).astype(np.float32)
    np.testing.assert_array_equal(top_buckets(pi, 8), full_sort(pi, 8))


def test_ties_and_nan_keep_the_full_sorts_order() -> None:
    rng = np.random.default_rng(7)
    pi = rng.dirichlet(np.full(1024, 0.3), (6, 4)).astype(np.float32)
    pi[0, 0, :] = 1 / 1024  # all tied
    pi[1, 2, [3, 131, 259, 900]] = 0.5  # tied top weights, some in one group
    pi[2, 1, ::128] = 0.25  # one group holds all the top weights
    pi[3, 3, 17] = np.nan
    np.testing.assert_array_equal(top_buckets(pi, 8), full_sort(pi, 8))


def test_candidates_of_distinct_weights_are_the_top_set_without_the_fallback() -> None:
    rng = np.random.default_rng(3)
    pi = rng.dirichlet(np.full(1024, 0.3), (40, 4)).astype(np.float32)
    chosen = _top_candidates(-pi, 8)
    np.testing.assert_array_equal(np.sort(chosen, axis=-1), np.sort(full_sort(pi, 8), axis=-1))


@pytest.mark.parametrize("size", [1024, 1000, 72])
def test_weights_with_many_ties_and_nan_equal_the_full_sort(size: int) -> None:
    """Weights from a few levels: ties inside the top, at its edge, and with other groups'
    maxima are common; a few NaN anywhere."""
    rng = np.random.default_rng(size + 1)
    for levels in (3, 40, 2_000):
        pi = (rng.integers(0, levels, (60, 4, size)) / levels).astype(np.float32)
        pi[rng.random(pi.shape) < 2e-4] = np.nan
        np.testing.assert_array_equal(top_buckets(pi, 8), full_sort(pi, 8))
