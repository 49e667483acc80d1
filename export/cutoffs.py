"""Rolling-origin cutoffs picked from the data, with clear errors for logs that cannot be split.

For a log spanning [start, end] and a horizon H, the latest labelled cutoff is K = end − H (its
label window closes with the data). The test cutoffs are K − (n−1)·H, …, K − H, K (disjoint
label windows); each test cutoff T has its own validation cutoff T − H (early stopping,
calibration, baseline tuning) and train cutoffs every `every_days` from `first_train` while
their label window closes by T − H. The shipped model is trained the same way with K as its
validation cutoff: through the latest labelled cutoff, calibrated on the latest cutoff.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

from export.labels import Split, make_split
from stream_app.clock import SECONDS_PER_DAY
from stream_app.model.eventlog import EventLog

MIN_USERS = 30  # users with history at a validation cutoff, below which nothing can be tuned


class SplitError(ValueError):
    """The log is too short or too small for a time split with this horizon."""


@dataclass(frozen=True)
class Plan:
    """The cutoffs of one run."""

    first_train: datetime
    test_cutoffs: tuple[datetime, ...]
    latest: datetime  # latest labelled cutoff: the shipped model's validation/calibration cutoff
    horizon_days: float
    every_days: float

    def split_for(self, test: datetime) -> Split:
        """Train/validation/test split of one test cutoff."""
        val = test - timedelta(days=self.horizon_days)
        return make_split(self.first_train, val, test, self.horizon_days, self.every_days)

    def final_split(self) -> Split:
        """The shipped model's split: validation = the latest labelled cutoff."""
        end = self.latest + timedelta(days=self.horizon_days)
        return make_split(self.first_train, self.latest, end, self.horizon_days, self.every_days)


def _day(seconds: float) -> datetime:
    """Midnight UTC at or before a time."""
    return datetime.fromtimestamp(seconds // SECONDS_PER_DAY * SECONDS_PER_DAY, tz=UTC)


def plan_cutoffs(
    log: EventLog,
    horizon_days: float,
    every_days: float,
    n_tests: int = 3,
    first_train: datetime | None = None,
    tests: tuple[datetime, ...] = (),
) -> Plan:
    """Cutoffs from the data (see module doc); given `tests`/`first_train` override them."""
    if len(log) == 0:
        raise SplitError("the event log is empty")
    start, end = float(log.ts_seconds.min()), float(log.ts_seconds.max())
    h = timedelta(days=horizon_days)
    latest = _day(end - horizon_days * SECONDS_PER_DAY)
    chosen = tests or tuple(latest - i * h for i in reversed(range(n_tests)))
    first = first_train or _day(start + horizon_days * SECONDS_PER_DAY) + timedelta(days=1)
    span = (end - start) / SECONDS_PER_DAY
    need = (n_tests + 3) * horizon_days
    if min(chosen) - 2 * h < first or max(chosen) > latest:
        raise SplitError(
            f"the log spans {span:.1f} days ({_day(start).date()} .. {_day(end).date()}); "
            f"{len(chosen)} test cutoffs with a {horizon_days:g}-day horizon need about "
            f"{need:g} days (a train cutoff, a validation cutoff and the test windows): "
            "pass a shorter --horizon-days or explicit --test-cutoffs"
        )
    plan = Plan(first, tuple(sorted(chosen)), latest, horizon_days, every_days)
    _check_users(log, plan)
    return plan


def _check_users(log: EventLog, plan: Plan) -> None:
    h = plan.horizon_days * SECONDS_PER_DAY
    for test in plan.test_cutoffs:
        val = test.timestamp() - h
        users = np.unique(log.user_id[log.ts_seconds < val].astype(str))
        if len(users) < MIN_USERS:
            raise SplitError(
                f"only {len(users)} users have events before the validation cutoff "
                f"{_day(val).date()} (need {MIN_USERS}); the log is too small to split"
            )
