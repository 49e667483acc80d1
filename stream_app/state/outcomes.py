"""What a user's state keeps of alerts as predictions: the open ones and the tallies of outcomes.

Every alert predicts P(return within H). It stays open in the user's state until H has passed
since it was emitted, even when the user came back before (the return is noted on it): only
then is its outcome, `returned` or `not_returned`, added to the user's tallies. A return known
early but a non-return known only after H would otherwise make every window younger than H
look better than the model (realised/predicted ≈ 1 / mean P right after a deployment). The
tallies are written with the state in one changelog message, so a restart or a rebalance can
neither lose nor double-count one.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class OpenPrediction:
    """An alert's prediction, open until `deadline_seconds` (= emitted + H)."""

    level: str
    probability: float
    model_version: str
    emitted_seconds: float
    deadline_seconds: float
    #: (action kind, control) of every action decided for the alert.
    actions: tuple[tuple[str, bool], ...] = ()
    #: When the user came back within H (None: not yet); counted at `deadline_seconds`.
    returned_seconds: float | None = None


@dataclass(frozen=True, slots=True, order=True)
class AlertTallyKey:
    """The labels an alert outcome is counted under."""

    level: str
    model_version: str
    probability_bucket: str


@dataclass(frozen=True, slots=True)
class AlertTally:
    """Resolved predictions of one key: how many, how many returned, Σp and Σ(p − returned)²."""

    predictions: int = 0
    returned: int = 0
    probability_sum: float = 0.0
    squared_error_sum: float = 0.0

    def add(self, probability: float, returned: bool) -> AlertTally:
        """The tally with one more resolved prediction."""
        y = 1.0 if returned else 0.0
        return AlertTally(
            self.predictions + 1,
            self.returned + int(returned),
            self.probability_sum + probability,
            self.squared_error_sum + (probability - y) ** 2,
        )

    def plus(self, other: AlertTally) -> AlertTally:
        """Both tallies together."""
        return AlertTally(
            self.predictions + other.predictions,
            self.returned + other.returned,
            self.probability_sum + other.probability_sum,
            self.squared_error_sum + other.squared_error_sum,
        )

    def minus(self, other: AlertTally) -> AlertTally:
        """This tally without `other` (a user's tallies before an update)."""
        return AlertTally(
            self.predictions - other.predictions,
            self.returned - other.returned,
            self.probability_sum - other.probability_sum,
            self.squared_error_sum - other.squared_error_sum,
        )


@dataclass(frozen=True, slots=True, order=True)
class ActionTallyKey:
    """An action outcome's labels: the kind, and whether the user was in the control group."""

    kind: str
    control: bool


@dataclass(frozen=True, slots=True)
class Outcomes:
    """A user's resolved outcomes so far (sorted by key, only keys that occurred)."""

    alerts: tuple[tuple[AlertTallyKey, AlertTally], ...] = ()
    #: (key, [actions resolved, of which the user returned]).
    actions: tuple[tuple[ActionTallyKey, tuple[int, int]], ...] = ()

    def __bool__(self) -> bool:
        return bool(self.alerts or self.actions)


#: A user without any resolved outcome.
NO_OUTCOMES = Outcomes()
