"""decide_actions: level → kind per tier, cooldowns, budget, control group, quiet hours."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from stream_app.policy import (
    ActionHistory,
    ActionKind,
    BudgetState,
    Decision,
    Policy,
    Reason,
    SkipReason,
    decide_actions,
    in_control_group,
)
from stream_app.policy.decide import Deferred, control_bucket
from stream_app.state import UserState
from tests.unit.policy.builders import DAY, NOON, T0, alert, control_user, treated_user, user

NIGHT = NOON + 11 * 3600  # 23:00 London


def decide(
    policy: Policy,
    user_id: str,
    level: str | None,
    state: UserState,
    now: float = NOON,
    budget: BudgetState | None = None,
    history: ActionHistory | None = None,
) -> Decision:
    trigger = alert(user_id, level, now=now) if level else None
    return decide_actions(
        user_id, trigger, state, policy, now, budget or BudgetState(), history or ActionHistory()
    )


@pytest.mark.parametrize(
    ("level", "purchases", "spend", "kinds"),
    [
        ("warning", 0, 0.0, ["re_recommend"]),
        ("warning", 20, 5000.0, ["re_recommend"]),
        ("at_risk", 0, 0.0, ["push"]),
        ("at_risk", 3, 100.0, ["push"]),
        ("critical", 0, 0.0, []),  # new users get no coupon
        ("critical", 3, 100.0, ["coupon"]),
        ("critical", 20, 5000.0, ["coupon"]),
    ],
)
def test_level_and_tier_choose_the_kind(
    policy: Policy, level: str, purchases: int, spend: float, kinds: list[str]
) -> None:
    uid = treated_user(policy)
    decision = decide(policy, uid, level, user(purchases, spend))
    assert [a.kind.value for a in decision.actions] == kinds
    for action in decision.actions:
        assert action.reason is Reason.of_level(level)
        assert action.alert_id == alert(uid, level).alert_id
        assert not action.control
        assert action.tier == policy.tier_of(user(purchases, spend)).name


def test_coupon_value_follows_the_tier(policy: Policy) -> None:
    uid = treated_user(policy)
    regular = decide(policy, uid, "critical", user(3, 100.0)).actions[0]
    vip = decide(policy, uid, "critical", user(20, 5000.0)).actions[0]
    assert regular.payload["value"] == 5.0 and vip.payload["value"] == 10.0
    assert regular.payload["expires_at"] == "2011-03-27T12:00:00.000Z"  # 14 days
    assert regular.payload["currency"] == "GBP"


def test_action_ids_are_deterministic(policy: Policy) -> None:
    uid = treated_user(policy)
    first = decide(policy, uid, "critical", user(3, 100.0)).actions[0]
    again = decide(policy, uid, "critical", user(3, 100.0), now=NOON + 60).actions[0]
    assert first.action_id == again.action_id
    assert first.payload["coupon_id"] == again.payload["coupon_id"]
    other_user = decide(policy, treated_user(policy, "v"), "critical", user(3, 100.0)).actions[0]
    assert other_user.action_id != first.action_id
    push = decide(policy, uid, "at_risk", user(3, 100.0)).actions[0]
    assert push.action_id != first.action_id


def test_cooldown_per_user_and_kind(policy: Policy) -> None:
    uid = treated_user(policy)
    first = decide(policy, uid, "at_risk", user())
    assert len(first.actions) == 1
    for days, allowed in [(1, False), (2.99, False), (3, True)]:
        again = decide(policy, uid, "at_risk", user(), NOON + days * DAY, history=first.history)
        assert len(again.actions) == int(allowed), days
        if not allowed:
            assert again.skipped[0].kind is ActionKind.PUSH
            assert again.skipped[0].reason is SkipReason.COOLDOWN
    other_kind = decide(policy, uid, "warning", user(), NOON + DAY, history=first.history)
    assert [a.kind for a in other_kind.actions] == [ActionKind.RE_RECOMMEND]


def test_coupon_budget_is_never_exceeded(edit: Callable[..., Policy]) -> None:
    policy = edit(coupon={"budget_capacity": 2, "budget_refill_per_hour": 1})
    budget, sent, skipped = BudgetState(), 0, 0
    for i in range(10):  # ten different users in the same minute
        uid = treated_user(policy, f"b{i}-")
        decision = decide(policy, uid, "critical", user(3, 100.0), NOON + i, budget=budget)
        budget = decision.budget
        sent += len(decision.actions)
        skipped += sum(s.reason is SkipReason.BUDGET for s in decision.skipped)
    assert (sent, skipped) == (2, 8)
    refilled = decide(policy, "late", "critical", user(3, 100.0), NOON + 3600, budget=budget)
    assert len(refilled.actions) + len(refilled.skipped) == 1
    assert refilled.skipped or refilled.actions[0].kind is ActionKind.COUPON


def test_control_users_get_a_record_and_no_real_action(policy: Policy) -> None:
    uid = control_user(policy)
    decision = decide(policy, uid, "critical", user(3, 100.0))
    (action,) = decision.actions
    assert action.control is True
    assert action.kind is ActionKind.COUPON
    assert decision.budget == BudgetState()  # no coupon token taken
    assert decision.history.last(ActionKind.COUPON) == NOON  # same cooldown rhythm as treatment


def test_control_users_pass_the_same_gates(edit: Callable[..., Policy]) -> None:
    policy = edit(coupon={"budget_capacity": 0, "budget_refill_per_hour": 0})
    decision = decide(policy, control_user(policy), "critical", user(3, 100.0))
    assert decision.actions == ()
    assert decision.skipped[0].reason is SkipReason.BUDGET
    quiet = decide(policy, control_user(policy), "at_risk", user(), NIGHT)
    (deferred,) = quiet.deferred  # held to 08:00 like a treated user's push, as a control record
    assert quiet.actions[0].control and quiet.actions[0].action_id == deferred.action_id
    dropping = edit(
        coupon={"budget_capacity": 0, "budget_refill_per_hour": 0}, quiet_hours={"mode": "drop"}
    )
    dropped = decide(dropping, control_user(dropping), "at_risk", user(), NIGHT)
    assert dropped.skipped[0].reason is SkipReason.QUIET_HOURS


def test_control_group_is_deterministic_and_salted(edit: Callable[..., Policy]) -> None:
    policy = edit()
    ids = [f"user-{i}" for i in range(20_000)]
    chosen = {u for u in ids if in_control_group(u, policy.control)}
    assert chosen == {u for u in ids if in_control_group(u, policy.control)}
    assert len(chosen) / len(ids) == pytest.approx(0.1, abs=0.01)
    resalted = edit(control={"salt": "another"})
    assert chosen != {u for u in ids if in_control_group(u, resalted.control)}
    assert not any(in_control_group(u, edit(control={"share": 0.0}).control) for u in ids[:500])
    assert all(in_control_group(u, edit(control={"share": 1.0}).control) for u in ids[:500])
    assert 0 <= control_bucket("x", "s") < 1


def test_quiet_hours_defer_a_push_to_the_end_of_the_window(policy: Policy) -> None:
    uid = treated_user(policy)
    night = decide(policy, uid, "at_risk", user(), NIGHT)  # 23:00 London
    (push,) = night.actions
    assert push.kind is ActionKind.PUSH and night.skipped == ()
    assert push.emitted_at == "2011-03-13T23:00:00.000Z"  # decided now
    assert push.deliver_after == "2011-03-14T08:00:00.000Z"  # delivered at 08:00 London
    assert night.deferred == (Deferred(push.action_id, ActionKind.PUSH, NIGHT + 9 * 3600),)
    assert night.history.last(ActionKind.PUSH) == NIGHT  # its cooldown starts at the decision
    assert "deliver_after" in push.to_json_dict()
    day = decide(policy, uid, "at_risk", user(), NIGHT + 10 * 3600)  # 09:00
    assert day.deferred == () and day.actions[0].deliver_after is None
    assert "deliver_after" not in day.actions[0].to_json_dict()
    (coupon,) = decide(policy, uid, "critical", user(3, 100.0), NIGHT).actions
    assert coupon.deliver_after is None  # quiet hours hold pushes only


def test_quiet_hours_in_mode_drop_skip_push_only(edit: Callable[..., Policy]) -> None:
    policy = edit(quiet_hours={"mode": "drop"})
    uid = treated_user(policy)
    night = decide(policy, uid, "at_risk", user(), NIGHT)
    assert night.actions == () and night.deferred == ()
    assert night.skipped[0].reason is SkipReason.QUIET_HOURS
    assert night.history == ActionHistory()  # a skipped push does not use the cooldown
    assert len(decide(policy, uid, "warning", user(), NIGHT).actions) == 1
    assert len(decide(policy, uid, "critical", user(3, 100.0), NIGHT).actions) == 1
    assert len(decide(policy, uid, "at_risk", user(), NIGHT + 10 * 3600).actions) == 1  # 09:00


def test_the_window_ends_at_the_end_hour_in_local_time(edit: Callable[..., Policy]) -> None:
    quiet = edit().quiet_hours
    assert quiet is not None
    assert quiet.window_end(NIGHT) == NIGHT + 9 * 3600  # 23:00 → 08:00 next day
    assert quiet.window_end(NIGHT + 3 * 3600) == NIGHT + 9 * 3600  # 02:00 → 08:00 same day
    # London moves to summer time on 2011-03-27: 23:00 GMT → 08:00 BST is 8 h later
    summer_eve = NIGHT + 13 * DAY
    assert quiet.window_end(summer_eve) == summer_eve + 8 * 3600


def test_without_quiet_hours_push_goes_out_at_night(edit: Callable[..., Policy]) -> None:
    policy = edit(quiet_hours=None)
    assert len(decide(policy, treated_user(policy), "at_risk", user(), NIGHT).actions) == 1


def test_push_payload(policy: Policy) -> None:
    state = user(categories=("MUG", "LAMP", "LAMP"))
    action = decide(policy, treated_user(policy), "at_risk", state, T0 + 2.5 * DAY).actions[0]
    assert action.payload["template_id"] == "winback_at_risk_v1"
    assert action.payload["params"]["days_silent"] == 2
    assert action.payload["params"]["item_id"] == "item-2"
    assert action.payload["params"]["category"] in {"MUG", "LAMP"}


def test_re_recommend_payload_uses_real_categories_and_recent_items(policy: Policy) -> None:
    state = user(categories=("MUG", "LAMP", "LAMP", "CANDLE"))
    action = decide(policy, treated_user(policy), "warning", state).actions[0]
    categories = action.payload["categories"]
    assert set(categories) <= {"MUG", "LAMP", "CANDLE"}  # unknown model buckets are dropped
    assert categories[0] in {"LAMP", "CANDLE"}
    assert action.payload["items"] == ["item-3", "item-2", "item-1"]


def test_alert_of_another_user_is_refused(policy: Policy) -> None:
    with pytest.raises(ValueError, match="another user"):
        decide_actions(
            "a", alert("b", "warning"), user(), policy, NOON, BudgetState(), ActionHistory()
        )


def test_no_alert_and_no_migration_means_nothing(policy: Policy) -> None:
    decision = decide(policy, treated_user(policy), None, user())
    assert decision.actions == () and decision.skipped == ()
