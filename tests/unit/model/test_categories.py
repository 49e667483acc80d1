"""The served category blend: head interest + the user's own recent categories."""

from __future__ import annotations

import numpy as np
import pytest

from stream_app.model.categories import (
    CategoryBlend,
    blend_scores,
    decayed_frequency,
    decayed_frequency_matrix,
    rank_categories,
)

DAY = 86_400.0
NOW = 1.3e9


def test_decayed_frequency_halves_per_half_life_and_sums_to_one() -> None:
    f = decayed_frequency([3, 5], [NOW, NOW - 10 * DAY], NOW, half_life_days=10.0, buckets=8)
    assert f.sum() == pytest.approx(1.0)
    assert f[3] == pytest.approx(2 * f[5])
    assert not decayed_frequency([], [], NOW, 10.0, 8).any()


def test_batched_frequency_equals_one_user_at_a_time() -> None:
    rows = np.array([0, 0, 1, 1, 1])
    buckets = np.array([1, 2, 2, 2, 7])
    ts = NOW - DAY * np.array([1.0, 5.0, 0.0, 30.0, 2.0])
    now = np.array([NOW, NOW + DAY])
    many = decayed_frequency_matrix(rows, buckets, ts, now, 7.0, 8)
    for r in range(2):
        one = decayed_frequency(buckets[rows == r], ts[rows == r], now[r], 7.0, 8)
        np.testing.assert_allclose(many[r], one)


def test_weight_zero_ranks_by_the_head_and_never_bucket_zero() -> None:
    lam = np.array([9.0, 1.0, 3.0, 2.0])
    order = rank_categories(lam, [1, 1], [NOW, NOW], NOW, CategoryBlend(0.0), top=3)
    assert order.tolist() == [2, 3, 1]


def test_recent_categories_lift_a_bucket_the_head_ranks_low() -> None:
    lam = np.array([0.0, 5.0, 4.0, 0.1])
    blend = CategoryBlend(weight=1.0, half_life_days=30.0)
    assert rank_categories(lam, [3, 3], [NOW - DAY, NOW], NOW, blend, top=1).tolist() == [3]
    only_old = CategoryBlend(weight=1.0, half_life_days=30.0, recent_events=1)
    order = rank_categories(lam, [3, 2], [NOW - DAY, NOW], NOW, only_old, top=2)
    assert order.tolist() == [2, 1]  # bucket 3 fell out of the recent window


def test_blend_scores_is_batched_and_blend_round_trips_json() -> None:
    lam = np.ones((2, 4))
    personal = np.array([[0, 1.0, 0, 0], [0, 0, 0, 1.0]])
    s = blend_scores(lam, personal, 0.5)
    assert np.argmax(s, axis=1).tolist() == [1, 3] and np.isneginf(s[:, 0]).all()
    blend = CategoryBlend(0.5, 90.0, 20)
    assert CategoryBlend.from_json(blend.to_json()) == blend
    with pytest.raises(ValueError):
        CategoryBlend(weight=-1.0)
