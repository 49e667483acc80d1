"""Interest migration: divergence of the recent vs long-term category profile, even without decay."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from stream_app.model.features import category_bucket
from stream_app.policy import (
    ActionHistory,
    ActionKind,
    BudgetState,
    Policy,
    Reason,
    SkipReason,
    decide_actions,
    detect_interest_migration,
)
from stream_app.policy.migration import category_profile, js_divergence, shift_possible
from stream_app.policy.payloads import blended_categories
from stream_app.policy.records import action_id, migration_basis
from tests.unit.policy.builders import DAY, T0, model_state, treated_user, user

OLD = ("MUG",) * 8 + ("LAMP",) * 4
SHIFTED = (*OLD, "GARDEN", "GARDEN", "TOY", "MUG", "GARDEN")
STEADY = (*OLD, "MUG", "LAMP", "MUG", "MUG", "LAMP")


def test_js_divergence_bounds() -> None:
    p = {"a": 0.5, "b": 0.5}
    assert js_divergence(p, p) == 0
    assert js_divergence({"a": 1.0}, {"b": 1.0}) == pytest.approx(1.0)
    assert 0 < js_divergence(p, {"a": 1.0}) < 1
    assert js_divergence(p, {"a": 0.9, "b": 0.1}) == js_divergence({"a": 0.9, "b": 0.1}, p)


def test_category_profile_ignores_events_without_category() -> None:
    state = user(categories=("MUG", "MUG", "LAMP", ""))
    assert category_profile(state.recent) == pytest.approx({"MUG": 2 / 3, "LAMP": 1 / 3})


def test_shift_is_detected_with_the_new_top_categories(policy: Policy) -> None:
    shift = detect_interest_migration(user(categories=SHIFTED), policy.migration)
    assert shift is not None
    assert shift.divergence > policy.migration.threshold
    assert shift.recent_top == ("GARDEN", "MUG", "TOY")
    assert shift.event_seconds == user(categories=SHIFTED).recent[-1].ts_seconds


@pytest.mark.parametrize(
    "categories",
    [STEADY, ("GARDEN",) * 5, ("MUG",) * 3 + ("GARDEN",) * 5],  # steady; no history; too little
)
def test_no_shift(policy: Policy, categories: tuple[str, ...]) -> None:
    assert detect_interest_migration(user(categories=categories), policy.migration) is None


def test_threshold_and_switch(edit: Callable[..., Policy]) -> None:
    state = user(categories=SHIFTED)
    shift = detect_interest_migration(state, edit().migration)
    assert shift is not None and shift.divergence < 1
    above = edit(migration={"threshold": min(shift.divergence + 0.01, 1.0)})
    assert detect_interest_migration(state, above.migration) is None
    assert detect_interest_migration(state, edit(migration={"enabled": False}).migration) is None


def test_migration_emits_a_re_recommend_without_an_alert(policy: Policy) -> None:
    uid = treated_user(policy)
    state = user(categories=SHIFTED)
    decision = decide_actions(uid, None, state, policy, T0, BudgetState(), ActionHistory())
    (action,) = decision.actions
    assert action.kind is ActionKind.RE_RECOMMEND
    assert action.reason is Reason.INTEREST_MIGRATION
    assert action.alert_id is None
    assert action.payload["categories"][:3] == ["GARDEN", "MUG", "TOY"]
    assert action.action_id == action_id(
        uid, ActionKind.RE_RECOMMEND, migration_basis(state.recent[-1].ts_seconds)
    )
    again = decide_actions(uid, None, state, policy, T0 + DAY, BudgetState(), decision.history)
    assert again.actions == ()
    assert again.skipped[0].reason is SkipReason.COOLDOWN


def test_model_head_categories_map_to_real_ids(policy: Policy) -> None:
    vase = category_bucket("VASE")
    model = replace(model_state(), top_buckets=(((vase, 1.0),), ((vase, 1.0),)))
    state = replace(user(categories=("MUG",)), model=model)
    spec = policy.re_recommend
    assert blended_categories(state, 0.0, {vase: "VASE"}, spec)[0] in {"VASE", "MUG"}
    assert set(blended_categories(state, 0.0, {vase: "VASE"}, spec)) == {"VASE", "MUG"}
    assert blended_categories(state, 0.0, {}, spec) == ["MUG"]  # unknown bucket dropped
    model_only = spec.model_copy(update={"model_weight": 1.0})
    assert blended_categories(state, 0.0, {vase: "VASE"}, model_only)[0] == "VASE"


def test_a_ring_shorter_than_the_check_needs_never_shifts(policy: Policy) -> None:
    """`shift_possible` is exact: one event fewer than it asks for never shifts, however
    different the recent events (the pipeline then does not read the state at all)."""
    needed = policy.migration.recent_events + policy.migration.min_history_events
    history = ("MUG",) * (needed - policy.migration.recent_events)
    shifted = (*history, *("GARDEN",) * policy.migration.recent_events)
    assert len(shifted) == needed and shift_possible(needed, policy.migration)
    assert detect_interest_migration(user(categories=shifted), policy.migration) is not None
    assert not shift_possible(needed - 1, policy.migration)
    for cut in range(needed):
        assert (
            detect_interest_migration(user(categories=shifted[1 : 1 + cut]), policy.migration)
            is None
        )
        assert (
            detect_interest_migration(
                user(categories=shifted[-cut:] if cut else ()), policy.migration
            )
            is None
        )
    disabled = policy.migration.model_copy(update={"enabled": False})
    assert not shift_possible(needed, disabled)
