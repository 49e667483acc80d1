"""Outcome tallies of the users on this worker's partitions, summed, exported to Prometheus.

An alert is in the tallies once its horizon H has passed, returned or not (a return before H
is noted on the open prediction and counted at H), so any window of these counters compares
returns and expected returns of the same alerts, from the first day after a deployment on.

The sums are derived from the user-state table (rebuilt from it after an assignment, then
kept current with each state written), so a restarted or rebalanced worker exports the very
totals the changelog holds: an outcome is neither lost nor counted twice. Every series carries
its `partition`, so a partition that moves between workers keeps one monotone series.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from stream_app.state import UserState
from stream_app.state.outcomes import ActionTallyKey, AlertTally, AlertTallyKey, Outcomes

#: Per-user sums behind an uplift interval clustered by user (see `UpliftMoments`).
UPLIFT_MOMENTS = ("users", "actions", "returned", "actions_sq", "returned_sq", "returned_x_actions")


@dataclass(frozen=True, slots=True)
class UpliftMoments:
    """Σ over users of 1, n, y, n², y² and y·n (n actions of a user, y of them followed by a return).

    The return rate p = Σy / Σn is a ratio over users; its variance with the users as clusters
    (a user's repeated actions are not independent) is (Σy² − 2pΣyn + p²Σn²) / (Σn)².
    """

    users: int = 0
    actions: int = 0
    returned: int = 0
    actions_sq: int = 0
    returned_sq: int = 0
    returned_x_actions: int = 0

    def plus(self, count: int, returned: int, sign: int) -> UpliftMoments:
        """With one user's (count, returned) added (sign 1) or taken away (sign -1)."""
        return UpliftMoments(
            self.users + sign,
            self.actions + sign * count,
            self.returned + sign * returned,
            self.actions_sq + sign * count * count,
            self.returned_sq + sign * returned * returned,
            self.returned_x_actions + sign * returned * count,
        )


@dataclass
class PartitionTotals:
    """Σ of the users' tallies on one partition."""

    alerts: dict[AlertTallyKey, AlertTally] = field(default_factory=dict)
    actions: dict[ActionTallyKey, tuple[int, int]] = field(default_factory=dict)
    uplift: dict[ActionTallyKey, UpliftMoments] = field(default_factory=dict)

    def add(self, outcomes: Outcomes, sign: int = 1) -> None:
        """Add (sign 1) or take away (sign -1) one user's tallies."""
        for key, tally in outcomes.alerts:
            current = self.alerts.get(key, AlertTally())
            self.alerts[key] = current.plus(tally) if sign > 0 else current.minus(tally)
        for action_key, (count, returned) in outcomes.actions:
            n, r = self.actions.get(action_key, (0, 0))
            self.actions[action_key] = (n + sign * count, r + sign * returned)
            moments = self.uplift.get(action_key, UpliftMoments())
            self.uplift[action_key] = moments.plus(count, returned, sign)


@dataclass
class OutcomeTotals:
    """Per-partition sums of the outcome tallies in the user states this worker holds."""

    partitions: dict[int, PartitionTotals] = field(default_factory=dict)

    def update(self, partition: int, before: UserState | None, after: UserState) -> None:
        """A user's state changed from `before` to `after`: apply the change of its tallies."""
        self.update_outcomes(
            partition, before.outcomes if before is not None else Outcomes(), after.outcomes
        )

    def update_outcomes(self, partition: int, before: Outcomes, after: Outcomes) -> None:
        """A user's tallies changed from `before` to `after`."""
        if before == after:
            return
        totals = self.partitions.setdefault(partition, PartitionTotals())
        totals.add(before, -1)
        totals.add(after)

    def rebuild(self, states: Iterable[tuple[int, UserState]]) -> None:
        """Sum again from (partition, state) of every user on the assigned partitions."""
        self.partitions.clear()
        for partition, state in states:
            if state.outcomes:
                self.partitions.setdefault(partition, PartitionTotals()).add(state.outcomes)


class OutcomeCollector(Collector):
    """Exports `OutcomeTotals` as counters at every scrape."""

    def __init__(self, totals: OutcomeTotals) -> None:
        self.totals = totals

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        """The outcome counters of every partition held."""
        alert_labels = ["partition", "level", "model_version", "probability_bucket"]
        outcomes = CounterMetricFamily(
            "decay_alert_outcomes",
            "Alert predictions counted once H passed since the alert: the user returned within H, or not",
            labels=[*alert_labels, "outcome"],
        )
        predicted = CounterMetricFamily(
            "decay_alert_predicted_returns",
            "Σ of the counted alerts' predicted P(return within H): expected returns",
            labels=alert_labels,
        )
        squared = CounterMetricFamily(
            "decay_alert_squared_error",
            "Σ (predicted P − returned)² of counted alerts: the Brier score's numerator",
            labels=alert_labels,
        )
        actions = CounterMetricFamily(
            "decay_action_outcomes",
            "Actions whose alert was counted, by kind and group (treated or control) and outcome",
            labels=["partition", "kind", "group", "outcome"],
        )
        moments = GaugeMetricFamily(
            "decay_action_outcome_user_moments",
            "Per-user sums of counted actions (users, actions, returned, their squares and product)"
            " behind the uplift's interval clustered by user",
            labels=["partition", "kind", "group", "moment"],
        )
        for partition, totals in sorted(self.totals.partitions.items()):
            for key, tally in sorted(totals.alerts.items()):
                labels = [str(partition), key.level, key.model_version, key.probability_bucket]
                outcomes.add_metric([*labels, "returned"], tally.returned)
                outcomes.add_metric([*labels, "not_returned"], tally.predictions - tally.returned)
                predicted.add_metric(labels, tally.probability_sum)
                squared.add_metric(labels, tally.squared_error_sum)
            for action_key, (count, returned) in sorted(totals.actions.items()):
                group = "control" if action_key.control else "treated"
                labels = [str(partition), action_key.kind, group]
                actions.add_metric([*labels, "returned"], returned)
                actions.add_metric([*labels, "not_returned"], count - returned)
                sums = totals.uplift.get(action_key, UpliftMoments())
                for moment in UPLIFT_MOMENTS:
                    moments.add_metric([*labels, moment], getattr(sums, moment))
        yield from (outcomes, predicted, squared, actions, moments)
