"""Builders for the policy tests: states, alerts and user ids from literals."""

from __future__ import annotations

from pathlib import Path

from stream_app.events.alert import Alert, alert_id
from stream_app.events.schema import EventType
from stream_app.paths import DEFAULT_POLICY_PATH
from stream_app.policy import Policy, in_control_group
from stream_app.state import ModelState, RecentEvent, UserState

DEFAULT_POLICY = DEFAULT_POLICY_PATH
RULES_POLICY = Path(__file__).with_name("rules.toml")  # what the rule tests are written against
T0 = 1_300_000_000.0  # 2011-03-13 07:06:40 UTC (London is on GMT that day)
NOON = T0 + 5 * 3600 - 400  # 2011-03-13 12:00:00 UTC, outside quiet hours
DAY = 86_400.0


def model_state() -> ModelState:
    return ModelState(
        version="1",
        h=(0.0,),
        c=(0.0,),
        mu=(0.01, 0.1),
        alpha=(1.0, 0.5),
        beta=(2.0, 0.1),
        top_buckets=(((5, 0.6), (7, 0.4)), ((9, 1.0),)),
    )


def user(
    purchases: int = 0,
    spend: float = 0.0,
    categories: tuple[str, ...] = ("MUG", "MUG", "LAMP"),
    last_seconds: float = T0,
    with_model: bool = True,
) -> UserState:
    """A user with `purchases` purchase events, `spend` spent and recent events in categories."""
    counts = [0] * 6
    counts[4] = purchases
    recent = tuple(
        RecentEvent(last_seconds - (len(categories) - i) * 60, EventType.VIEW, f"item-{i}", c)
        for i, c in enumerate(categories)
    )
    return UserState(
        events_total=max(purchases, len(categories)),
        type_counts=tuple(counts),
        spend_total=spend,
        first_event_seconds=last_seconds - 30 * DAY,
        last_event_seconds=last_seconds,
        recent=recent,
        model=model_state() if with_model else None,
    )


def alert(user_id: str, level: str, episode: float = T0, now: float = NOON) -> Alert:
    return Alert(
        alert_id(user_id, level, episode),
        user_id,
        level,
        0.2,
        30.0,
        now - episode,
        "2011-03-13T07:06:40.000Z",
        ["MUG"],
        "1",
        "2011-03-13T12:00:00.000Z",
    )


def treated_user(policy: Policy, prefix: str = "u") -> str:
    """A user id outside the control group."""
    return next(
        f"{prefix}{i}" for i in range(1000) if not in_control_group(f"{prefix}{i}", policy.control)
    )


def control_user(policy: Policy, prefix: str = "u") -> str:
    """A user id inside the control group."""
    return next(
        f"{prefix}{i}" for i in range(1000) if in_control_group(f"{prefix}{i}", policy.control)
    )
