"""Actions on the real broker: replayed Online Retail events, an accelerated clock, a test policy.

The test is its own referee: it reads the policy file it wrote with `tomllib`, recomputes tiers,
the control group (salted SHA-256 of the user id), cooldowns, quiet hours and one token bucket
per partition from the alerts the worker published, and expects exactly the actions those rules
allow, no more and no fewer. Nothing of `stream_app.policy` is used to compute what is expected.
"""

from __future__ import annotations

import hashlib
import json
import time
import tomllib
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from itertools import pairwise
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from jsonschema import Draft202012Validator, FormatChecker

from stream_app.data.sources import load_events
from stream_app.events.schema import Event
from stream_app.kafka.reading import (
    Record,
    end_offsets,
    read_topic,
    wait_caught_up,
    wait_committed_past,
)
from stream_app.settings import Settings
from stream_app.state import UserState
from tests.integration.support import (
    DAY,
    TEST_POLICY,
    SimClock,
    WorkerFactory,
    expected_action_id,
    kinds_for,
    send_events,
    silence_settings,
    sim_seconds,
    table,
    tier_of,
)
from tests.offline_model import STEP_GRAPH

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not STEP_GRAPH.exists(), reason="no committed model in models/"),
]

HOUR = 3_600.0
SLICE_DAYS = 21  # Online Retail 2010-12-01 .. 12-21: ~1,660 invoices of ~930 customers
LEAD_SECONDS = 15.0  # wall time for the worker to start and take the slice in, before any due time
WATCH_DAYS = 160  # simulated days watched after the last event (critical: ~100 d of silence)
MS = 0.001  # emitted_at carries milliseconds (truncated): decisions closer than this to a rule's
# boundary could go either way and follow what the worker did
ACTION_SCHEMA = Path(__file__).resolve().parents[2] / "stream_app" / "schemas" / "action.v1.json"

# Every kind is asked for at two levels somewhere, so cooldowns matter; the budget (1 coupon and
# 0.02/h per partition) is far below what the at_risk and critical alerts ask for, so it binds.


def slice_events(shared_data: Path) -> list[Event]:
    events = list(load_events("online-retail", shared_data))
    end = events[0].ts_seconds + SLICE_DAYS * DAY
    return [e for e in events if e.ts_seconds < end]


def in_control(user: str, control: dict[str, Any]) -> bool:
    digest = hashlib.sha256(f"control|{control['salt']}|{user}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64 < control["share"]


def masked(user: str) -> str:
    """Users appear in messages as a hash, as in the worker's logs."""
    return "user#" + hashlib.sha256(user.encode()).hexdigest()[:8]


@dataclass
class Referee:
    """The policy's gates, re-implemented: cooldown, quiet hours, one token bucket per partition."""

    policy: dict[str, Any]
    partitions: int
    budget_start_seconds: float
    last: dict[tuple[str, str], float] = field(default_factory=dict)
    tokens: dict[int, tuple[float, float]] = field(default_factory=dict)
    skipped: Counter[str] = field(default_factory=Counter)
    undecided: int = 0  # decisions within MS of a boundary, settled by what the worker did
    deferred: int = 0  # decided in quiet hours (mode defer): delivered at the window's end

    @property
    def capacity(self) -> float:
        return float(self.policy["coupon"]["budget_capacity"]) / self.partitions

    @property
    def refill_per_hour(self) -> float:
        return float(self.policy["coupon"]["budget_refill_per_hour"]) / self.partitions

    def record(self, user: str, kind: str, seconds: float) -> None:
        self.last[user, kind] = seconds

    def decide(
        self, user: str, kind: str, control: bool, partition: int, now: float, actual: bool
    ) -> bool:
        """Whether `kind` passes every gate at `now`; `actual` settles a boundary case."""
        last = self.last.get((user, kind))
        if last is not None:
            margin = now - last - self.policy["cooldown_days"][kind] * DAY
            if abs(margin) < MS:
                return self._settle(actual)
            if margin < 0:
                self.skipped["cooldown"] += 1
                return False
        quiet = self.policy["quiet_hours"]
        if kind in quiet["kinds"]:
            local = datetime.fromtimestamp(now, ZoneInfo(quiet["timezone"]))
            if now % HOUR > HOUR - MS:  # the worker's clock may have been past the hour
                return self._settle(actual)
            if local.hour >= quiet["start_hour"] or local.hour < quiet["end_hour"]:
                if quiet.get("mode", "defer") == "drop":
                    self.skipped["quiet_hours"] += 1
                    return False
                self.deferred += 1
        if kind != "coupon":
            return True
        return self._coupon(control, partition, now, actual)

    def _coupon(self, control: bool, partition: int, now: float, actual: bool) -> bool:
        if partition not in self.tokens:  # the worker's bucket started empty, and is full now
            full_after = self.capacity / self.refill_per_hour * HOUR
            assert now >= self.budget_start_seconds + full_after, "bucket maybe not full yet"
        tokens, updated = self.tokens.get(partition, (0.0, self.budget_start_seconds))
        tokens = min(self.capacity, tokens + (now - updated) * self.refill_per_hour / HOUR)
        if tokens < self.capacity and abs(tokens - 1.0) < MS * self.refill_per_hour / HOUR:
            ok = self._settle(actual)
        else:
            ok = tokens >= 1.0
        self.skipped["budget"] += not ok
        if ok and not control:  # a control record only checks the bucket
            tokens -= 1.0
        self.tokens[partition] = (tokens, now)
        return ok

    def _settle(self, actual: bool) -> bool:
        self.undecided += 1
        return actual


def assert_budget_windows(times: list[float], capacity: float, refill_per_hour: float) -> None:
    """A token bucket never holding more than `capacity`: any n coupons span enough time."""
    times = sorted(times)
    for i, first in enumerate(times):
        in_hour = sum(1 for t in times[i:] if t < first + HOUR)
        assert in_hour <= capacity + refill_per_hour + 1e-9, (in_hour, capacity, refill_per_hour)
        for j in range(i, len(times)):
            allowed = capacity + (times[j] - first + MS) * refill_per_hour / HOUR
            assert j - i + 1 <= allowed + 1e-9, (j - i + 1, allowed)


@dataclass
class Run:
    """What the worker published (decided by `watch_end`) and its table, plus the test's view."""

    policy: dict[str, Any]
    partitions: int
    events: list[Event]
    states: dict[str, UserState]
    alerts: list[Record]  # in (partition, offset) order: the order of the worker's decisions
    actions: list[Record]  # the actions topic
    control: list[Record]  # the control topic
    caught_up_seconds: float

    @property
    def records(self) -> list[Record]:
        """Every decision: the actions and the control group's records."""
        return self.actions + self.control

    @property
    def bodies(self) -> list[dict[str, Any]]:
        return [r.json() for r in self.records]

    @property
    def decided(self) -> list[dict[str, Any]]:
        """One record per action_id (a redelivered action counts once)."""
        return list({b["action_id"]: b for b in self.bodies}.values())

    @property
    def tiers(self) -> dict[str, str]:
        return {u: tier_of(s, self.policy["tiers"]) for u, s in self.states.items()}

    @property
    def control_users(self) -> set[str]:
        return {u for u in self.states if in_control(u, self.policy["control"])}


def run_worker(
    settings: Settings,
    workers: WorkerFactory,
    events: list[Event],
    policy_text: str,
    tmp_path: Path,
) -> Run:
    """Replay `events`, run a worker on the accelerated clock, read back what it decided."""
    policy_path = tmp_path / "policy.toml"
    policy_path.write_text(policy_text)
    first, last = events[0].ts_seconds, max(e.ts_seconds for e in events)
    assert settings.bootstrap_servers
    send_events(settings, events)
    # The simulated clock reaches the slice's first day LEAD_SECONDS after now, then runs at
    # four days per second: every alert falls due after the worker has taken the whole slice in.
    clock = SimClock(start=first - DAY, anchor=time.time() + LEAD_SECONDS)
    settings = silence_settings(settings, clock).model_copy(update={"policy_path": policy_path})
    workers.start(settings)
    wait_caught_up(
        settings.bootstrap_servers, settings.app_id, settings.events_topic, timeout_seconds=60
    )
    caught_up = clock.now()
    assert caught_up < first, "worker too slow to start: alerts could precede the slice"
    watch_end = last + WATCH_DAYS * DAY
    time.sleep(max(clock.wall_at(watch_end) - time.time(), 0) + 2)
    # Progress, not time: every tick sent by now is handled and its outputs published (a tick
    # decides at the time it was sent, so a loaded worker can publish a decision of `watch_end`
    # seconds later). The worker runs on: keep what was decided by `watch_end` (an alert's
    # actions are decided at the alert's own time, so both sides are complete up to there).
    ticks_sent = end_offsets(settings.bootstrap_servers, settings.ticks_topic)
    wait_committed_past(
        settings.bootstrap_servers, settings.app_id, settings.ticks_topic, ticks_sent,
        timeout_seconds=120,
    )  # fmt: skip
    published = {
        topic: [
            r
            for r in read_topic(settings.bootstrap_servers, topic, timeout_seconds=30)
            if sim_seconds(r.json()["emitted_at"]) <= watch_end
        ]
        for topic in (settings.alerts_topic, settings.actions_topic, settings.control_actions_topic)
    }
    return Run(
        policy=tomllib.loads(policy_text),
        partitions=settings.partitions,
        events=events,
        states=table(settings),
        alerts=sorted(published[settings.alerts_topic], key=lambda r: (r.partition, r.offset)),
        actions=published[settings.actions_topic],
        control=published[settings.control_actions_topic],
        caught_up_seconds=caught_up,
    )


def check_ids(run: Run) -> int:
    """Deterministic ids, recomputed from the documented rule; a repeat carries the same record.

    Returns how many records were repeats.
    """
    event_times: dict[str, set[float]] = defaultdict(set)
    for event in run.events:
        event_times[event.user_id].add(event.ts_seconds)
    by_id: dict[str, dict[str, Any]] = {}
    for body in run.bodies:
        user, kind, aid = body["user_id"], body["kind"], body["action_id"]
        if body["alert_id"] is not None:
            expected_id = expected_action_id(user, kind, body["alert_id"])
            assert aid == expected_id
        else:
            assert body["reason"] == "interest_migration" and kind == "re_recommend"
            bases = [f"migration|{t:.3f}" for t in event_times[user]]
            found = any(aid == expected_action_id(user, kind, basis) for basis in bases)
            assert found, f"{aid} is no migration id of {masked(user)}"
        if kind == "coupon":
            code = hashlib.sha256(f"coupon|{aid}".encode()).hexdigest()[:16].upper()
            assert body["payload"]["coupon_id"] == f"CPN-{code}"
        previous = by_id.setdefault(aid, body)
        for key in ("user_id", "kind", "alert_id", "reason", "control", "tier"):
            same = previous[key] == body[key]  # (no raw user id in an assertion's output)
            assert same, f"repeat of {aid} differs in {key}"
    return len(run.bodies) - len(by_id)


def check_control_group(run: Run) -> None:
    """Control users (hash rule recomputed here) get only control records; the others none.

    The actions topic carries no control record; the control topic carries nothing else.
    """
    assert [r.offset for r in run.actions if r.json()["control"] is not False] == []
    assert [r.offset for r in run.control if r.json()["control"] is not True] == []
    control_users = run.control_users
    for body in run.decided:
        is_control = body["user_id"] in control_users
        assert body["control"] is is_control, masked(body["user_id"])


def check_triggers(run: Run) -> None:
    """A decay action answers an alert of its user, with a kind the policy asks for at that
    level and tier; the tier is recomputed from the table's purchase counter and spend."""
    alert_by_id = {r.json()["alert_id"]: r.json() for r in run.alerts}
    tiers = run.tiers
    for body in run.decided:
        if body["alert_id"] is None:  # decided mid-replay, when the user had fewer purchases
            continue
        assert body["tier"] == tiers[body["user_id"]]
        alert = alert_by_id[body["alert_id"]]
        same_user = alert["user_id"] == body["user_id"]
        assert same_user, f"action for another user's alert {alert['alert_id']}"
        assert body["reason"] == f"decay:{alert['level']}"
        assert body["kind"] in kinds_for(run.policy, alert["level"], body["tier"])


def check_cooldowns(run: Run) -> None:
    """No user gets two actions of one kind within its cooldown (control records count too)."""
    times: dict[tuple[str, str], list[float]] = defaultdict(list)
    for body in run.decided:
        times[body["user_id"], body["kind"]].append(sim_seconds(body["emitted_at"]))
    for (user, kind), seen in times.items():
        gaps = [b - a for a, b in pairwise(sorted(seen))]
        cooldown = run.policy["cooldown_days"][kind] * DAY
        assert all(gap >= cooldown - MS for gap in gaps), (masked(user), kind, gaps)


def check_budget(run: Run) -> dict[int, int]:
    """The coupon budget as the policy defines it (a token bucket, split per partition): no
    simulated hour holds more than capacity + refill; no run of coupons outpaces the refill.

    Returns the coupons sent per partition.
    """
    partition_of = {r.json()["action_id"]: r.partition for r in run.records}
    per_partition: dict[int, list[float]] = defaultdict(list)
    for body in run.decided:
        if body["kind"] == "coupon" and not body["control"]:
            per_partition[partition_of[body["action_id"]]].append(sim_seconds(body["emitted_at"]))
    capacity = float(run.policy["coupon"]["budget_capacity"])
    refill = float(run.policy["coupon"]["budget_refill_per_hour"])
    for seen in per_partition.values():
        assert_budget_windows(seen, capacity / run.partitions, refill / run.partitions)
    assert_budget_windows([t for seen in per_partition.values() for t in seen], capacity, refill)
    return {p: len(seen) for p, seen in sorted(per_partition.items())}


def check_exact_decisions(run: Run) -> Referee:
    """Exactly the actions the rules allow: every alert, partition by partition in the order the
    worker published them, goes through the referee's gates."""
    decided = run.decided
    migrations = [b for b in decided if b["alert_id"] is None]
    referee = Referee(run.policy, run.partitions, budget_start_seconds=run.caught_up_seconds)
    for body in sorted(migrations, key=lambda b: sim_seconds(b["emitted_at"])):
        referee.record(body["user_id"], "re_recommend", sim_seconds(body["emitted_at"]))
    first_alert = min(sim_seconds(r.json()["emitted_at"]) for r in run.alerts)
    assert all(sim_seconds(b["emitted_at"]) < first_alert for b in migrations)
    sent = {(b["alert_id"], b["kind"]) for b in decided if b["alert_id"] is not None}
    expected: set[tuple[str, str]] = set()
    tiers, control_users = run.tiers, run.control_users
    for record in run.alerts:
        alert = record.json()
        user, now = alert["user_id"], sim_seconds(alert["emitted_at"])
        for kind in kinds_for(run.policy, alert["level"], tiers[user]):
            actual = (alert["alert_id"], kind) in sent
            if referee.decide(user, kind, user in control_users, record.partition, now, actual):
                expected.add((alert["alert_id"], kind))
                referee.record(user, kind, now)
    assert sent - expected == set(), f"{len(sent - expected)} actions the policy does not allow"
    assert expected - sent == set(), f"{len(expected - sent)} actions the policy asks for missing"
    return referee


def check_envelopes(run: Run) -> None:
    """Every alert and action is a CloudEvent (binary mode) whose id is the record's own id."""
    for records, record, id_field in ((run.alerts, "alert", "alert_id"),
                                      (run.actions, "action", "action_id"),
                                      (run.control, "action.control", "action_id")):  # fmt: skip
        for r in records:
            headers = {name: value.decode() for name, value in r.headers}
            body = r.json()
            version = body["schema_version"]
            assert headers["ce_specversion"] == "1.0"
            assert headers["ce_id"] == body[id_field]
            assert headers["ce_type"] == f"dev.decay-stream.{record}.v{version}"
            assert headers["ce_source"].startswith("/decay-stream/t-")  # the test's app id
            assert headers["ce_time"] == body["emitted_at"]
            assert headers["content-type"] == "application/json"


def test_actions_follow_the_policy(
    settings: Settings, workers: WorkerFactory, shared_data: Path, tmp_path: Path
) -> None:
    started = time.monotonic()
    run = run_worker(settings, workers, slice_events(shared_data), TEST_POLICY, tmp_path)
    validator = Draft202012Validator(
        json.loads(ACTION_SCHEMA.read_text()), format_checker=FormatChecker()
    )
    for body in run.bodies:
        validator.validate(body)
    check_envelopes(run)
    repeats = check_ids(run)
    check_control_group(run)
    check_triggers(run)
    check_cooldowns(run)
    coupons = check_budget(run)
    referee = check_exact_decisions(run)

    # The run exercised every rule (otherwise the checks above prove little).
    kinds = Counter((b["kind"], b["control"]) for b in run.decided)
    levels = Counter(r.json()["level"] for r in run.alerts)
    tiers = Counter(run.tiers.values())
    print(
        f"\n{len(run.events)} events, {len(run.states)} users, tiers {dict(tiers)}, "
        f"alerts {dict(levels)}, actions (kind, control) {dict(kinds)}, repeats {repeats}, "
        f"skipped {dict(referee.skipped)}, boundary cases {referee.undecided}, "
        f"coupons per partition {coupons}, {time.monotonic() - started:.0f} s"
    )
    assert levels["critical"] >= 50
    for kind in ("re_recommend", "push", "coupon"):
        assert kinds[kind, False] >= 5 and kinds[kind, True] >= 1, kind
    assert set(tiers) == {"vip", "regular", "new"}
    coupon_tiers = {b["tier"] for b in run.decided if b["kind"] == "coupon"}
    assert coupon_tiers >= {"new", "regular"}
    assert referee.skipped["cooldown"] >= 10
    assert referee.deferred >= 10  # the test policy's quiet hours defer (the default)
    night = [b for b in run.decided if b.get("deliver_after")]
    assert len(night) >= 10 and {b["kind"] for b in night} == {"push"}
    for body in night:  # delivered at 08:00 London after the decision, not before
        deliver = datetime.fromisoformat(body["deliver_after"]).astimezone(
            ZoneInfo("Europe/London")
        )
        assert (deliver.hour, deliver.minute) == (8, 0), body
        assert 0 < deliver.timestamp() - sim_seconds(body["emitted_at"]) <= 10 * HOUR, body
    assert referee.skipped["budget"] >= 10, "the budget never bound: it was not tested"
    assert referee.undecided <= 3
