"""Helpers shared by the integration tests."""

from __future__ import annotations

import hashlib
import math
import os
import signal
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from stream_app.commands.processes import spawn_worker
from stream_app.commands.replay import replay
from stream_app.data.sources import load_events
from stream_app.events.schema import Event
from stream_app.kafka.reading import latest_by_key, read_topic, wait_caught_up
from stream_app.model.contract import check_model
from stream_app.model.survival import Calibration
from stream_app.schedule.levels import (
    DecayModel,
    Thresholds,
)
from stream_app.settings import Settings
from stream_app.state import UserState, decode_state
from stream_app.topology import changelog_topic
from tests.conftest import FIXTURES
from tests.offline_model import SequenceGraph

DAY = 86_400.0


THRESHOLDS = Thresholds()


ALERT_SCHEMA = Path(__file__).resolve().parents[2] / "stream_app" / "schemas" / "alert.v2.json"


@dataclass
class SimClock:
    start: float
    anchor: float

    def now(self) -> float:
        return self.start + (time.time() - self.anchor) * FACTOR

    def wall_at(self, sim: float) -> float:
        return self.anchor + (sim - self.start) / FACTOR


def retail_events() -> list[Event]:
    return list(load_events(str(FIXTURES / "online_retail_sample.csv")))


def silence_settings(settings: Settings, clock: SimClock) -> Settings:
    return settings.model_copy(
        update={
            "clock_start_seconds": clock.start,
            "clock_anchor_seconds": clock.anchor,
            "clock_factor": FACTOR,
            "schedule_tick_seconds": TICK_SECONDS,
            "max_future_skew_seconds": 400 * DAY,
            "outcome_grace_seconds": 20 * DAY,  # test events arrive ~5 s (20 d) late at most
        }
    )


def send_events(settings: Settings, events: list[Event]) -> None:
    """Send `events` to the events topic, keyed by user, as `decay-stream replay` does."""
    assert settings.bootstrap_servers
    replay(
        events,
        bootstrap=settings.bootstrap_servers,
        topic=settings.events_topic,
        partitions=settings.partitions,
        progress=False,
    )


def replay_and_wait(
    settings: Settings, events: list[Event], timeout_seconds: float = 120.0
) -> None:
    """Send `events` and wait (progress) until the worker's group has committed every
    partition to its end."""
    assert settings.bootstrap_servers
    send_events(settings, events)
    wait_caught_up(
        settings.bootstrap_servers,
        settings.app_id,
        settings.events_topic,
        timeout_seconds=timeout_seconds,
    )


def table(
    settings: Settings, client_config: dict[str, object] | None = None
) -> dict[str, UserState]:
    assert settings.bootstrap_servers
    raw = latest_by_key(
        read_topic(
            settings.bootstrap_servers,
            changelog_topic(settings.app_id),
            timeout_seconds=60,  # returns as soon as the end is reached
            client_config=client_config,
        )
    )
    return {k.decode(): decode_state(v) for k, v in raw.items() if v}


def read_alerts(
    settings: Settings, client_config: dict[str, object] | None = None, topic: str | None = None
) -> list[dict[str, object]]:
    assert settings.bootstrap_servers
    records = read_topic(
        settings.bootstrap_servers,
        topic or settings.alerts_topic,
        timeout_seconds=20,
        client_config=client_config,
    )
    return [r.json() for r in records]


def decay_model() -> DecayModel:
    session = SequenceGraph().session
    spec = check_model(
        session.get_modelmeta().custom_metadata_map,
        [i.name for i in session.get_inputs()],
        [o.name for o in session.get_outputs()],
    )
    calibration = Calibration(*spec.calibration, spec.covariate_weights)
    return DecayModel(spec.horizon_days, calibration, spec.kernel_shapes)


def sim_seconds(iso_text: object) -> float:
    from datetime import datetime

    return datetime.fromisoformat(str(iso_text).replace("Z", "+00:00")).timestamp()


TEST_POLICY = """
version = 1

[[tiers]]
name = "vip"
min_purchases = 4
min_spend = 1000.0

[[tiers]]
name = "regular"
min_purchases = 2

[[tiers]]
name = "new"
min_purchases = 0

[triggers]
warning = { new = "re_recommend", regular = "re_recommend", vip = ["re_recommend", "push"] }
at_risk = { new = ["re_recommend", "push"], regular = ["re_recommend", "push", "coupon"], vip = ["push", "coupon"] }
critical = { new = ["push", "coupon"], regular = ["push", "coupon"], vip = "coupon" }

[cooldown_days]
re_recommend = 60
push = 45
coupon = 90

[coupon]
budget_capacity = 4
budget_refill_per_hour = 0.08
expiry_days = 14
currency = "GBP"
value = { new = 2.5, regular = 5.0, vip = 10.0 }

[push]
templates = { warning = "it_warning", at_risk = "it_at_risk", critical = "it_critical" }

[control]
share = 0.25
salt = "integration-actions"

[quiet_hours]
timezone = "Europe/London"
start_hour = 22
end_hour = 8
kinds = ["push"]

[migration]
enabled = true
threshold = 0.5
recent_events = 2
min_history_events = 2

[re_recommend]
categories = 5
items = 3
model_weight = 0.5
"""


def tier_of(state: UserState, tiers: list[dict[str, Any]]) -> str:
    for tier in tiers:
        spend_ok = "min_spend" not in tier or state.spend_total >= tier["min_spend"]
        if state.purchases_total >= tier.get("min_purchases", 0) and spend_ok:
            return str(tier["name"])
    raise AssertionError("the last tier matches everyone")


def kinds_for(policy: dict[str, Any], level: str, tier: str) -> list[str]:
    kinds = policy["triggers"].get(level, {}).get(tier, [])
    return [kinds] if isinstance(kinds, str) else list(kinds)


def expected_action_id(user: str, kind: str, basis: str) -> str:
    return hashlib.sha256(f"action|{user}|{kind}|{basis}".encode()).hexdigest()[:32]


#: How much of a worker's log its failure messages and reports end with.
LOG_TAIL_CHARS = 5000


@dataclass
class WorkerProcess:
    """A `decay-stream worker` child process and its log."""

    settings: Settings
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, sig: int = signal.SIGTERM, timeout_seconds: float = 60.0) -> None:
        if not self.alive:
            return
        os.killpg(self.process.pid, sig)
        try:
            self.process.wait(timeout_seconds)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def http_get(self, path: str) -> str:
        url = f"http://127.0.0.1:{self.settings.http_port}{path}"
        with urllib.request.urlopen(url, timeout=5) as response:
            return str(response.read().decode())

    def wait_http(self, timeout_seconds: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            assert self.alive, self.log()
            try:
                self.http_get("/health/ready")
                return
            except OSError:
                time.sleep(0.3)
        raise TimeoutError(f"worker HTTP not up:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-LOG_TAIL_CHARS:]

    def report(self) -> str:
        """For a failing test: each distinct warning or error of the whole log, then its tail."""
        text = self.log_path.read_text(errors="replace")
        return f"{notable_lines(text)}\n--- last lines ---\n{text[-LOG_TAIL_CHARS:]}"


def notable_lines(log_text: str, limit: int = 80) -> str:
    """The log's WARNING and ERROR lines, each distinct message once with how often it came."""
    counts: dict[str, int] = {}
    first_seen: dict[str, str] = {}
    for line in log_text.splitlines():
        if "[WARNING]" not in line and "[ERROR]" not in line:
            continue
        message = line.split("] ", 3)[-1]  # without the timestamp and pid
        counts[message] = counts.get(message, 0) + 1
        first_seen.setdefault(message, line)
    lines = [
        f"{first_seen[message]}  (x{count})" if count > 1 else first_seen[message]
        for message, count in list(counts.items())[:limit]
    ]
    return "\n".join(lines) or "(no warnings or errors)"


@dataclass
class WorkerFactory:
    tmp_path: Path
    started: list[WorkerProcess] = field(default_factory=list)

    def start(
        self, settings: Settings, name: str = "worker", *, wait_ready: bool = True
    ) -> WorkerProcess:
        log_path = self.tmp_path / f"{name}-{len(self.started)}.log"
        worker = WorkerProcess(settings, spawn_worker(settings, log_path=log_path), log_path)
        self.started.append(worker)
        if wait_ready:
            worker.wait_http()
        return worker


def silent_retail(
    settings: Settings, workers: WorkerFactory, name: str = "worker", timeout_seconds: float = 120.0
) -> tuple[Settings, SimClock, WorkerProcess]:
    """A worker on the accelerated clock with the retail sample replayed and taken in; the
    silence starts (`clock.start`) an hour after the sample's last event.

    The clock runs from the worker's start, and how long a start takes depends on the machine:
    so once the worker is ready, the sample is moved by whole weeks (hours and weekdays, the
    model's time features, unchanged) to end at least INTAKE_SECONDS ahead of the clock. Only
    taking the sample in has to fit in that time, however long the start took."""
    events = retail_events()
    silence = max(e.ts_seconds for e in events) + 3600
    running = SimClock(start=silence, anchor=time.time())
    settings = silence_settings(settings, running)
    worker = workers.start(settings, name)
    weeks = math.ceil((running.now() + INTAKE_SECONDS * FACTOR - silence) / (7 * DAY))
    moved = [replace(e, ts=e.ts + timedelta(weeks=weeks)) for e in events]
    replay_and_wait(settings, moved, timeout_seconds)
    silence += weeks * 7 * DAY
    return settings, SimClock(start=silence, anchor=running.wall_at(silence)), worker


FACTOR = 4 * DAY  # four simulated days per wall second


TICK_SECONDS = 0.2

#: Wall seconds from a ready worker to the retail sample's silence: to take the sample in.
INTAKE_SECONDS = 5.0


def covering_alerts(
    alerts: list[dict[str, object]], user: str, episode: float | None
) -> dict[str, dict[str, object]]:
    """Level → the alert of the user's episode that published it or named it as skipped."""
    covering: dict[str, dict[str, object]] = {}
    for alert in alerts:
        if alert["user_id"] != user or sim_seconds(alert["last_event_at"]) != episode:
            continue
        for level in [alert["level"], *alert["skipped_levels"]]:  # type: ignore[list-item]
            covering.setdefault(str(level), alert)
    return covering
