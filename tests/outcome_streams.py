"""Literal outcome streams: alerts and returns, hour by hour, through the worker's pure functions.

A stream starts at a deployment (no state, no outcome counted). Every hour `alerts_per_hour`
users are alerted with P = `probability`; a share `returning` of them comes back
`return_after_days` later, the others stay silent. The users' states go through
`open_predictions`, `resolve_on_return` and `resolve_due` exactly as the event pipeline and
the tick handler call them, and `OutcomeTotals.update` is called with (partition, before,
after) as they call it; each hour ends with a scrape of the outcome counters.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from prometheus_client.registry import CollectorRegistry

from stream_app.events.alert import Alert
from stream_app.schedule.outcomes import open_predictions, resolve_due, resolve_on_return
from stream_app.state import UserState
from stream_app.worker.outcome_totals import OutcomeCollector, OutcomeTotals

HOUR = 3600.0
DAY = 24 * HOUR
HORIZON = 30 * DAY
VERSION = "v1"


@dataclass(frozen=True)
class OutcomeStream:
    """The shape of one literal stream (see the module docstring)."""

    hours: int
    returning: float
    probability: float = 0.25
    alerts_per_hour: int = 16
    return_after_days: float = 5.0


def hourly_totals(stream: OutcomeStream) -> Iterator[tuple[float, OutcomeTotals]]:
    """(hour's end in seconds since the deployment, the live totals) for each hour."""
    totals = OutcomeTotals()
    states: dict[int, UserState] = {}
    returns: dict[int, list[int]] = {}  # hour → users who come back in it
    deadlines: dict[int, list[int]] = {}  # hour → users whose prediction's H ends in it
    per_hour_returning = round(stream.alerts_per_hour * stream.returning)
    for hour in range(stream.hours):
        now = hour * HOUR
        for user in returns.pop(hour, []):
            apply(totals, states, user, resolve_on_return(states[user], now))
        for user in deadlines.pop(hour, []):  # the tick at the deadline
            apply(totals, states, user, resolve_due(states[user], now))
        for i in range(stream.alerts_per_hour):
            user = hour * stream.alerts_per_hour + i
            silent = UserState(events_total=1, last_event_seconds=now - 40 * DAY)
            alert = Alert(
                str(user), str(user), "warning", stream.probability, 40.0, 0, "", [], VERSION, ""
            )
            states[user] = silent
            apply(totals, states, user, open_predictions(silent, [alert], [[]], now, HORIZON))
            deadlines.setdefault(hour + round(HORIZON / HOUR), []).append(user)
            if i < per_hour_returning:
                back = hour + round(stream.return_after_days * 24)
                returns.setdefault(back, []).append(user)
        yield now + HOUR, totals


def apply(totals: OutcomeTotals, states: dict[int, UserState], user: int, after: UserState) -> None:
    """Write a user's new state and update the totals, as the worker does."""
    totals.update(0, states.get(user), after)
    states[user] = after


def scrape(totals: OutcomeTotals) -> dict[str, float]:
    """The exported samples, `name{labels}` → value, as Prometheus would scrape them."""
    registry = CollectorRegistry()
    registry.register(OutcomeCollector(totals))
    samples: dict[str, float] = {}
    for family in registry.collect():
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            samples[f"{sample.name}{{{labels}}}"] = sample.value
    return samples
