"""Deciding actions for an alert or an event (pure: no I/O, `now_seconds` passed in).

Every candidate action goes through the same gates, in order: per-user cooldown, quiet hours,
the coupon budget. A control user passes the same gates (so the two groups stay comparable)
but gets a record with `control=True` instead of a real action, and takes no coupon token.

Quiet hours in mode `defer` hold an action back to the end of the window instead of dropping
it: the action is decided now (its cooldown starts, a coupon takes its token) and carries
`deliver_after`, the window's end; `Decision.deferred` says which, and until when.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from stream_app.events.alert import Alert, iso
from stream_app.events.schema import utc_from_seconds
from stream_app.policy.budget import BudgetState, available, try_take
from stream_app.policy.config import ControlPolicy, Policy
from stream_app.policy.history import ActionHistory
from stream_app.policy.migration import detect_interest_migration
from stream_app.policy.payloads import coupon_payload, push_payload, re_recommend_payload
from stream_app.policy.records import Action, ActionKind, Reason, action_id, migration_basis
from stream_app.state import UserState

_HASH_SPACE = float(2**64)


class SkipReason(StrEnum):
    """Why a candidate action was not taken (a metrics label)."""

    COOLDOWN = "cooldown"
    QUIET_HOURS = "quiet_hours"
    BUDGET = "budget"


@dataclass(frozen=True, slots=True)
class Skipped:
    """A candidate action that a gate stopped."""

    kind: ActionKind
    reason: SkipReason


@dataclass(frozen=True, slots=True)
class Deferred:
    """An action held back by quiet hours: to be delivered at `until_seconds`, not before."""

    action_id: str
    kind: ActionKind
    until_seconds: float


@dataclass(frozen=True, slots=True)
class Decision:
    """Actions to publish (control records included), what was skipped, and the new state."""

    actions: tuple[Action, ...]
    budget: BudgetState
    history: ActionHistory
    skipped: tuple[Skipped, ...] = ()
    #: The actions (among `actions`) to deliver only at the end of the quiet window.
    deferred: tuple[Deferred, ...] = ()


@dataclass(frozen=True, slots=True)
class _Candidate:
    kind: ActionKind
    reason: Reason
    basis: str  # what makes the action id unique: the alert id, or the trigger's event time
    alert_id: str | None
    level: str | None = None
    categories: tuple[str, ...] = field(default=())


def control_bucket(user_id: str, salt: str) -> float:
    """Stable uniform number in [0, 1) from a salted hash of the user id."""
    digest = hashlib.sha256(f"control|{salt}|{user_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / _HASH_SPACE


def in_control_group(user_id: str, control: ControlPolicy) -> bool:
    """Whether the user is held out (deterministic for a given salt)."""
    return control_bucket(user_id, control.salt) < control.share


def decide_actions(
    user_id: str,
    alert: Alert | None,
    state: UserState,
    policy: Policy,
    now_seconds: float,
    budget: BudgetState,
    history: ActionHistory,
    known_categories: Mapping[int, str] | None = None,
) -> Decision:
    """Actions for an alert, or (alert None: after an event) for an interest migration."""
    if alert is not None and alert.user_id != user_id:
        raise ValueError("the alert is for another user")
    candidates = _from_alert(alert, state, policy) if alert else _from_events(state, policy)
    control = in_control_group(user_id, policy.control)
    actions: list[Action] = []
    skipped: list[Skipped] = []
    deferred: list[Deferred] = []
    for candidate in candidates:
        reason, until, budget = _gate(candidate.kind, control, policy, now_seconds, budget, history)
        if reason is not None:
            skipped.append(Skipped(candidate.kind, reason))
            continue
        action = _action(user_id, candidate, state, policy, now_seconds, control, known_categories)
        if until is not None:
            action = replace(action, deliver_after=iso(utc_from_seconds(until)))
            deferred.append(Deferred(action.action_id, action.kind, until))
        actions.append(action)
        history = history.with_sent(candidate.kind, now_seconds)
    return Decision(tuple(actions), budget, history, tuple(skipped), tuple(deferred))


def _from_alert(alert: Alert, state: UserState, policy: Policy) -> list[_Candidate]:
    tier = policy.tier_of(state).name
    reason = Reason.of_level(alert.level)
    return [
        _Candidate(kind, reason, alert.alert_id, alert.alert_id, alert.level)
        for kind in policy.kinds_for(alert.level, tier)
    ]


def _from_events(state: UserState, policy: Policy) -> list[_Candidate]:
    shift = detect_interest_migration(state, policy.migration)
    if shift is None:
        return []
    return [
        _Candidate(
            ActionKind.RE_RECOMMEND,
            Reason.INTEREST_MIGRATION,
            migration_basis(shift.event_seconds),
            None,
            categories=shift.recent_top,
        )
    ]


def _gate(
    kind: ActionKind,
    control: bool,
    policy: Policy,
    now_seconds: float,
    budget: BudgetState,
    history: ActionHistory,
) -> tuple[SkipReason | None, float | None, BudgetState]:
    """The first gate that stops `kind`, when quiet hours defer it to (else None), and the
    budget after a coupon is taken."""
    last = history.last(kind)
    if last is not None and now_seconds - last < policy.cooldown_days.seconds(kind):
        return SkipReason.COOLDOWN, None, budget
    quiet = policy.quiet_hours
    until = None
    if quiet is not None and kind in quiet.kinds and quiet.contains(now_seconds):
        if quiet.mode == "drop":
            return SkipReason.QUIET_HOURS, None, budget
        until = quiet.window_end(now_seconds)
    if kind is not ActionKind.COUPON:
        return None, until, budget
    spec = policy.coupon.budget
    if control:  # would the treatment have got one? (no token taken)
        return (None if available(budget, spec, now_seconds) else SkipReason.BUDGET), until, budget
    taken, budget = try_take(budget, spec, now_seconds)
    return (None if taken else SkipReason.BUDGET), until, budget


def _action(
    user_id: str,
    candidate: _Candidate,
    state: UserState,
    policy: Policy,
    now_seconds: float,
    control: bool,
    known: Mapping[int, str] | None,
) -> Action:
    tier = policy.tier_of(state).name
    aid = action_id(user_id, candidate.kind, candidate.basis)
    silent = max(now_seconds - (state.last_event_seconds or now_seconds), 0.0)
    payload = _payload(candidate, aid, tier, state, policy, silent, now_seconds, known or {})
    return Action(
        action_id=aid,
        user_id=user_id,
        kind=candidate.kind,
        payload=payload,
        reason=candidate.reason,
        alert_id=candidate.alert_id,
        control=control,
        tier=tier,
        emitted_at=iso(utc_from_seconds(now_seconds)),
    )


def _payload(
    candidate: _Candidate,
    aid: str,
    tier: str,
    state: UserState,
    policy: Policy,
    silent_seconds: float,
    now_seconds: float,
    known: Mapping[int, str],
) -> dict[str, Any]:
    if candidate.kind is ActionKind.COUPON:
        return coupon_payload(aid, tier, policy.coupon, now_seconds)
    recommend = re_recommend_payload(state, silent_seconds, known, policy.re_recommend)
    if candidate.kind is ActionKind.PUSH:
        template = policy.push.templates[candidate.level]  # type: ignore[index]
        return push_payload(template, state, silent_seconds, recommend["categories"])
    if candidate.categories:  # a migration leads with the new interests
        recent = [c for c in recommend["categories"] if c not in candidate.categories]
        merged = [*candidate.categories, *recent][: policy.re_recommend.categories]
        recommend["categories"] = merged
    return recommend
