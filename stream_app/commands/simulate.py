"""`decay-stream policy simulate`: the policy offline over a replayed real dataset.

Events are folded into user states in event time, the committed ONNX model is stepped per event,
alerts fire at their due times in simulated time, and every decision goes through
`decide_actions`. The coupon budget is split into one token bucket per partition that starts
empty, as in the worker (`--partitions`, default the worker's `DECAY_PARTITIONS` default). The
output is a per-day table an operator can tune the policy file with.
"""

from __future__ import annotations

import argparse
import heapq
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import date
from itertools import islice

import numpy as np

from stream_app.clock import SECONDS_PER_DAY
from stream_app.commands.alert_quality import (
    ActionRecord,
    AlertRecord,
    Reference,
    ReturnTimes,
)
from stream_app.commands.arguments import add_simulate_arguments
from stream_app.commands.errors import UsageError
from stream_app.commands.model_file import open_model
from stream_app.commands.simulate_quality import Replayed, print_quality
from stream_app.commands.simulate_table import DayStats, format_table
from stream_app.data.sources import load_events
from stream_app.events.alert import Alert
from stream_app.events.partitioning import partition_for_key
from stream_app.events.schema import Event, utc_from_seconds
from stream_app.model.features import category_bucket, encode_events
from stream_app.model.heads import model_state, previous_event  # the worker's exact encoding
from stream_app.model.runtime import ModelRuntime
from stream_app.policy.budget import BudgetState, refill
from stream_app.policy.config import Policy, load_policy
from stream_app.policy.decide import Decision, decide_actions
from stream_app.policy.exceptions import PolicyError
from stream_app.policy.history import ActionHistory
from stream_app.policy.records import ActionKind, Reason
from stream_app.schedule.alerts import alerts_due
from stream_app.schedule.levels import DecayModel, Thresholds, due_times, usual_gap_seconds
from stream_app.state import ModelState, UserState, apply_event
from stream_app.worker.activation import per_partition_policy

SEQUENCE_LENGTH = 50  # the worker's default `DECAY_SEQUENCE_LENGTH`


@dataclass
class Simulation:
    """Simulated worker: user states, action histories, coupon buckets and a due-time heap."""

    policy: Policy
    runtime: ModelRuntime
    thresholds: Thresholds = field(default_factory=Thresholds)
    partitions: int = 1
    states: dict[str, UserState] = field(default_factory=dict)
    histories: dict[str, ActionHistory] = field(default_factory=dict)
    budgets: dict[int, BudgetState] = field(default_factory=dict)  # per partition
    known: dict[int, str] = field(default_factory=dict)
    days: dict[date, DayStats] = field(default_factory=dict)
    alert_records: list[AlertRecord] = field(default_factory=list)
    action_records: list[ActionRecord] = field(default_factory=list)
    #: Users not alerted at each simulated midnight: the reference for the alerts' quality.
    references: list[Reference] = field(default_factory=list)
    _due: list[tuple[float, str, float]] = field(default_factory=list)
    #: Deferred deliveries: (deliver at, user, the user's last event when it was decided).
    _deliveries: list[tuple[float, str, float]] = field(default_factory=list)
    _offset: int = 0
    _split: Policy = field(init=False)  # the policy with the budget of one partition's bucket

    def __post_init__(self) -> None:
        self._split = per_partition_policy(self.policy, self.partitions)

    @property
    def decay(self) -> DecayModel:
        """Horizon and calibration of the model."""
        return DecayModel(
            self.runtime.spec.horizon_days,
            self.runtime.calibration,
            self.runtime.spec.kernel_shapes,
            self.runtime.spec.model_version,
        )

    def run(self, events: Iterable[Event], end_seconds: float | None = None) -> None:
        """Replay `events` (time-ordered), then fire alerts due until `end_seconds`."""
        last = None
        for event in events:
            self.deliver_deferred(event.ts_seconds)
            self.fire_due(event.ts_seconds)
            if last is not None and _next_midnight(last) <= event.ts_seconds:
                self._reference(_next_midnight(last))
            self.apply(event)
            last = event.ts_seconds
        if last is not None:
            end = end_seconds if end_seconds is not None else _next_midnight(last)
            self.fire_due(end)
            self.deliver_deferred(end)

    def deliver_deferred(self, now_seconds: float) -> None:
        """Deliveries at the end of a quiet window up to `now_seconds`: count those whose user
        came back in the meantime (the action was decided before; it goes out anyway)."""
        while self._deliveries and self._deliveries[0][0] <= now_seconds:
            at, user, episode = heapq.heappop(self._deliveries)
            if self.states[user].last_event_seconds != episode:
                self._day(at).deferred_user_back += 1

    def apply(self, event: Event) -> None:
        """Fold one event in, step the model, reschedule, and check for interest migration."""
        previous = self.states.get(event.user_id)
        self._offset += 1
        state, _ = apply_event(previous, event, self._offset, SEQUENCE_LENGTH)
        if event.category_id:
            self.known[category_bucket(event.category_id)] = event.category_id
        state = replace(state, model=self._step(event, previous))
        self.states[event.user_id] = state
        self._day(event.ts_seconds).events += 1
        if state.model is not None and state.last_event_seconds is not None:
            for _, due in due_times(state, self.decay, self.thresholds):
                heapq.heappush(self._due, (due, event.user_id, state.last_event_seconds))
        self._decide(event.user_id, None, event.ts_seconds)

    def _step(self, event: Event, previous: UserState | None) -> ModelState:
        spec = self.runtime.spec
        h, c = self.runtime.initial_state(1)
        model = previous.model if previous is not None else None
        if model is not None and model.version == spec.model_version:
            h[0], c[0] = np.asarray(model.h), np.asarray(model.c)
        encoded = encode_events([event], [previous_event(previous)])
        out = self.runtime.step(encoded.event_type, encoded.category_bucket, encoded.numeric, h, c)
        return model_state(spec.model_version, out, 0, self.runtime.top_buckets(out.h))

    def fire_due(self, now_seconds: float) -> None:
        """Alerts (and their actions) for every due time up to `now_seconds`, in time order."""
        while self._due and self._due[0][0] <= now_seconds:
            due, user, episode = heapq.heappop(self._due)
            state = self.states[user]
            if state.last_event_seconds != episode:
                continue  # a newer event started another silence episode
            alerts, reached = alerts_due(user, state, self.decay, self.thresholds, due, self.known)
            self.states[user] = replace(state, alert_level=reached)
            for alert in alerts:
                self._day(due).alerts[alert.level] += 1
                self.alert_records.append(
                    AlertRecord(user, alert.level, due, due - episode, usual_gap_seconds(state))
                )
                self._decide(user, alert, due)

    def _decide(self, user: str, alert: Alert | None, now_seconds: float) -> None:
        history = self.histories.get(user, ActionHistory())
        partition = partition_for_key(user.encode("utf-8"), self.partitions)
        decision = decide_actions(
            user,
            alert,
            self.states[user],
            self._split,
            now_seconds,
            self.budgets.get(partition) or BudgetState(0.0, now_seconds),  # starts empty
            history,
            self.known,
        )
        self.budgets[partition] = decision.budget
        self._record(decision, now_seconds)
        episode = self.states[user].last_event_seconds or now_seconds
        treated = {a.action_id for a in decision.actions if not a.control}
        for deferred in decision.deferred:
            if deferred.action_id in treated:
                heapq.heappush(self._deliveries, (deferred.until_seconds, user, episode))
        if alert is not None:
            self.action_records += [
                ActionRecord(user, a.kind.value, a.control, now_seconds) for a in decision.actions
            ]
        self.histories[user] = decision.history

    def _reference(self, at_seconds: float) -> None:
        """Remember who was known and not alerted at `at_seconds`."""
        quiet = tuple(
            user
            for user, state in self.states.items()
            if state.alert_level == 0 and (state.last_event_seconds or at_seconds) < at_seconds
        )
        self.references.append(Reference(at_seconds, quiet))

    def budget_left(self, now_seconds: float) -> float:
        """Coupons all buckets could pay for at `now_seconds`."""
        spec = self._split.coupon.budget
        return sum(refill(b, spec, now_seconds).tokens for b in self.budgets.values())

    def _record(self, decision: Decision, now_seconds: float) -> None:
        day = self._day(now_seconds)
        for action in decision.actions:
            if action.control:
                day.control += 1
            else:
                day.sent[action.kind.value] += 1
                day.migrations += action.reason is Reason.INTEREST_MIGRATION
                day.coupons_used += action.kind is ActionKind.COUPON
        for skip in decision.skipped:
            day.skipped[skip.reason.value] += 1
        deferred = {d.action_id for d in decision.deferred}
        day.deferred += sum(not a.control and a.action_id in deferred for a in decision.actions)
        day.budget_left = self.budget_left(now_seconds)

    def _day(self, seconds: float) -> DayStats:
        return self.days.setdefault(utc_from_seconds(seconds).date(), DayStats())


def _next_midnight(seconds: float) -> float:
    return (seconds // SECONDS_PER_DAY + 1) * SECONDS_PER_DAY


def _window(events: Iterator[Event], days: float | None) -> Iterator[Event]:
    """Events of the first `days` days after the first event."""
    first = next(events, None)
    if first is None:
        return
    end = first.ts_seconds + days * SECONDS_PER_DAY if days is not None else float("inf")
    yield first
    for event in events:
        if event.ts_seconds >= end:
            return
        yield event


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(
        prog="decay-stream policy simulate",
        description="Run the activation policy offline over a replayed dataset; print a per-day table.",
    )
    return add_simulate_arguments(parser).parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m stream_app.commands.simulate`."""
    return run(parse_args(argv))


def run(args: argparse.Namespace) -> int:
    """`decay-stream policy simulate` with parsed arguments."""
    try:
        policy = load_policy(args.policy)
        events = _window(iter(load_events(args.data)), args.days)
        sim = Simulation(
            policy, open_model(args.model, prefer_cuda=False), partitions=args.partitions
        )
        replayed = list(islice(events, args.limit))  # a bad row is found here
    except (PolicyError, FileNotFoundError, ValueError, UsageError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not replayed:
        print(f"error: {args.data}: no events to simulate", file=sys.stderr)
        return 2
    end = max((e.ts_seconds for e in replayed), default=0.0) + args.silence_days * SECONDS_PER_DAY
    sim.run(replayed, end if args.silence_days else None)
    print(
        f"policy {args.policy} | data {args.data} | model {sim.runtime.spec.model_version} | "
        f"users {len(sim.states)} | control share target {policy.control.share:g} | "
        f"coupon budget {policy.coupon.budget_capacity:g} + "
        f"{policy.coupon.budget_refill_per_hour:g}/h in {args.partitions} partition buckets"
    )
    print(format_table(sim.days))
    first = min((e.ts_seconds for e in replayed), default=0.0)
    recorded = Replayed(
        sim.alert_records,
        sim.references,
        sim.action_records,
        sim.runtime.spec.horizon_days,
        sim.policy.control,
    )
    print_quality(recorded, ReturnTimes(replayed), args.model, args.score_from or first)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
