"""Activation: the coupon budget split per partition, buckets that start empty, switching off."""

from __future__ import annotations

import pytest

from stream_app.policy import PolicyError, load_policy, parse_policy
from stream_app.policy.records import Action, ActionKind
from stream_app.service.ports import SourcePosition
from stream_app.settings import Settings
from stream_app.worker.activation import Activation, per_partition_policy
from stream_app.worker.metrics import Metrics
from tests.unit.policy.builders import NOON, RULES_POLICY, alert, treated_user, user


def policy_with_budget(capacity: float, refill_per_hour: float) -> dict[str, object]:
    body = load_policy(RULES_POLICY).model_dump(mode="json", exclude_none=True)
    body["coupon"]["budget_capacity"] = capacity
    body["coupon"]["budget_refill_per_hour"] = refill_per_hour
    return body


def test_budget_is_split_evenly_over_partitions() -> None:
    policy = per_partition_policy(parse_policy(policy_with_budget(16, 4)), 8)
    assert policy.coupon.budget_capacity == 2
    assert policy.coupon.budget_refill_per_hour == 0.5


def test_a_share_below_one_coupon_is_refused_at_start_up() -> None:
    with pytest.raises(PolicyError, match=r"budget_capacity = 5 is split over 8 partitions"):
        per_partition_policy(parse_policy(policy_with_budget(5, 50)), 8)
    assert per_partition_policy(parse_policy(policy_with_budget(0, 0)), 8)  # no coupons at all


async def test_a_partition_bucket_starts_empty_and_fills_at_its_rate() -> None:
    policy = per_partition_policy(parse_policy(policy_with_budget(8, 8)), 8)  # 1 + 1/h each
    sent: list[Action] = []

    async def send(action: Action, source: SourcePosition) -> None:
        sent.append(action)

    activation = Activation(policy, send, Metrics())
    uid = treated_user(policy)
    state = user(purchases=3)  # "regular": a critical alert asks for a coupon
    await activation.act(
        uid, alert(uid, "critical"), state, SourcePosition("events", 0, 0), NOON, {}
    )
    assert ActionKind.COUPON not in {a.kind for a in sent}  # a fresh bucket is empty
    skipped = activation.metrics.actions_skipped_total.labels("coupon", "budget")
    assert skipped._value.get() == 1
    await activation.act(
        uid, alert(uid, "critical"), state, SourcePosition("events", 0, 0), NOON + 3600, {}
    )
    assert [a.kind for a in sent].count(ActionKind.COUPON) == 1  # one hour later: one token


def test_an_empty_policy_path_turns_actions_off_also_in_a_child_worker(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DECAY_POLICY_PATH", "")
    assert Settings().policy_path is None  # not Path("."), the current directory
    monkeypatch.delenv("DECAY_POLICY_PATH")
    assert Settings().policy_path is not None
    off = Settings(policy_path=None)
    assert off.to_env()["DECAY_POLICY_PATH"] == ""  # not left out: the child's default
