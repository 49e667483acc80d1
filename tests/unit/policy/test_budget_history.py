"""Token bucket (exhaustion, refill, split) and the per-user action history (pure values)."""

from __future__ import annotations

import json

import pytest

from stream_app.policy import ActionHistory, ActionKind, BucketSpec, BudgetState
from stream_app.policy.budget import available, refill, try_take

SPEC = BucketSpec(capacity=3, refill_per_hour=2)
T = 1_300_000_000.0


def take_all(state: BudgetState, now: float, tries: int) -> tuple[int, BudgetState]:
    taken = 0
    for _ in range(tries):
        ok, state = try_take(state, SPEC, now)
        taken += ok
    return taken, state


def test_a_fresh_bucket_is_full_and_never_exceeded() -> None:
    taken, state = take_all(BudgetState(), T, 10)
    assert taken == 3
    assert state.tokens == 0
    assert not available(state, SPEC, T)


def test_refill_is_continuous_and_capped() -> None:
    _, empty = take_all(BudgetState(), T, 3)
    assert refill(empty, SPEC, T + 1800).tokens == pytest.approx(1.0)  # 2/h for half an hour
    assert not available(empty, SPEC, T + 1700)
    assert available(empty, SPEC, T + 1800)
    assert refill(empty, SPEC, T + 10 * 3600).tokens == 3  # capped at capacity


def test_refill_over_a_day_gives_at_most_capacity_plus_rate() -> None:
    state, total = BudgetState(), 0
    for minute in range(24 * 60):
        ok, state = try_take(state, SPEC, T + minute * 60)
        total += ok
    assert total <= 3 + 2 * 24
    assert total >= 2 * 24


def test_time_going_backwards_adds_nothing() -> None:
    _, empty = take_all(BudgetState(), T, 3)
    assert refill(empty, SPEC, T - 3600).tokens == 0
    assert refill(empty, SPEC, T - 3600).updated_seconds == T


def test_zero_capacity_disables_coupons() -> None:
    ok, _ = try_take(BudgetState(), BucketSpec(0, 0), T)
    assert not ok


def test_split_shares_never_add_up_to_more() -> None:
    part = BucketSpec(50, 50).split(4)
    assert part == BucketSpec(12.5, 12.5)
    with pytest.raises(ValueError, match="at least 1"):
        SPEC.split(0)


def test_budget_json_round_trip() -> None:
    _, state = take_all(BudgetState(), T, 2)
    wire = json.loads(json.dumps(state.to_json_dict()))
    assert BudgetState.from_json_dict(wire) == state
    assert BudgetState.from_json_dict(None) == BudgetState()


def test_history_keeps_the_last_time_per_kind() -> None:
    history = ActionHistory().with_sent(ActionKind.PUSH, T).with_sent(ActionKind.COUPON, T + 5)
    later = history.with_sent(ActionKind.PUSH, T + 10)
    assert later.last(ActionKind.PUSH) == T + 10
    assert later.last(ActionKind.COUPON) == T + 5
    assert later.last(ActionKind.RE_RECOMMEND) is None
    assert later.with_sent(ActionKind.PUSH, T).last(ActionKind.PUSH) == T + 10  # never goes back
    assert history.last(ActionKind.PUSH) == T  # values are immutable


def test_history_json_round_trip() -> None:
    history = ActionHistory().with_sent(ActionKind.COUPON, T).with_sent(ActionKind.PUSH, T + 1)
    wire = json.loads(json.dumps(history.to_json_dict()))
    assert wire == {"coupon": T, "push": T + 1}
    assert ActionHistory.from_json_dict(wire) == history
    assert ActionHistory.from_json_dict(None) == ActionHistory()
