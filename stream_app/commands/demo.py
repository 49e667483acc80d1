"""`demo`: the main job end to end on one machine, with its output printed.

A worker starts on an accelerated clock (one simulated day per wall second from the end of the
replayed slice), real events are replayed, and the decay alerts of the users who then go quiet
are printed as they arrive.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import signal
import time
from collections import Counter
from itertools import islice
from pathlib import Path

from stream_app.clock import SECONDS_PER_DAY as DAY
from stream_app.commands.broker import embedded_broker
from stream_app.commands.processes import spawn_worker
from stream_app.commands.replay import replay
from stream_app.data.sources import load_events
from stream_app.events.schema import EVENT_TYPES
from stream_app.kafka.clients import ensure_topic, new_consumer
from stream_app.kafka.connection import kafka_python_config
from stream_app.kafka.reading import latest_by_key, read_topic, wait_caught_up
from stream_app.paths import CLICKSTREAM_MODEL_PATH, DEFAULT_MODEL_PATH
from stream_app.settings import Settings
from stream_app.state import decode_state
from stream_app.topology import changelog_topic

STARTUP_SECONDS = 15.0


#: Sources of typed click/view/cart/fav traffic: served by the clickstream model by default.
CLICKSTREAM_SOURCES = ("taobao-", "tmall-")


def model_for_source(source: str, model_path: Path) -> Path:
    """The clickstream model for Taobao/Tmall traffic unless another model was chosen."""
    typed = source.startswith(CLICKSTREAM_SOURCES)
    if typed and model_path == DEFAULT_MODEL_PATH and CLICKSTREAM_MODEL_PATH.exists():
        return CLICKSTREAM_MODEL_PATH
    return model_path


def run_demo(settings: Settings, args: argparse.Namespace) -> int:
    """The main job on the embedded default: broker, worker, a real data slice, output shown."""
    model = model_for_source(args.source, settings.model_path)
    settings = settings.model_copy(update={"model_path": model})
    print(f"model: {model}")
    with embedded_broker(settings) as bootstrap:
        return demo_on(settings.model_copy(update={"bootstrap_servers": bootstrap}), args)


def demo_on(settings: Settings, args: argparse.Namespace) -> int:
    """Start a worker, replay `args.limit` events of `args.source`, show alerts, then a summary."""
    assert settings.bootstrap_servers is not None
    bootstrap = settings.bootstrap_servers
    client = kafka_python_config(settings)
    events = list(islice(load_events(args.source), args.limit))
    end = max(e.ts_seconds for e in events)
    settings = settings.model_copy(
        update={
            "clock_start_seconds": end,
            "clock_anchor_seconds": time.time() + STARTUP_SECONDS,
            "clock_factor": args.days_per_second * DAY,
            "max_future_skew_seconds": 3650 * DAY,
        }
    )
    ensure_topic(bootstrap, settings.alerts_topic, settings.partitions, client_config=client)
    log_path = settings.data_dir / "demo-worker.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    print(
        f"worker starting (log: {log_path}); clock: {args.days_per_second:g} simulated day(s) per second"
    )
    worker = spawn_worker(settings, log_path=log_path)
    try:
        sent = replay(
            events,
            bootstrap=bootstrap,
            topic=settings.events_topic,
            partitions=settings.partitions,
            client_config=client,
        )
        print(f"replayed {sent} events of {args.source}; waiting for the worker to catch up …")
        wait_caught_up(
            bootstrap,
            settings.app_id,
            settings.events_topic,
            timeout_seconds=600,
            client_config=client,
        )
        print(
            f"\nalerts as users stay silent (for {args.seconds:g} s; users already past a threshold"
            " when their last event is processed are alerted at once):"
        )
        shown = print_alerts(settings, args.seconds)
        print_summary(settings, shown)
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(60)
    return 0


def print_alerts(settings: Settings, seconds: float, detailed: int = 12) -> Counter[str]:
    """Print the first alerts in full, then a line per simulated period; returns counts by level."""
    assert settings.bootstrap_servers is not None
    consumer = new_consumer(
        settings.bootstrap_servers,
        settings.alerts_topic,
        client_config=kafka_python_config(settings),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
    )
    total: Counter[str] = Counter()
    period: Counter[str] = Counter()
    last_date = ""
    deadline = time.monotonic() + seconds
    next_line = time.monotonic() + 2.0
    try:
        while time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=200).values():
                for message in batch:
                    alert = json.loads(message.value)
                    total[alert["level"]] += 1
                    period[alert["level"]] += 1
                    last_date = str(alert["emitted_at"])[:10]
                    if sum(total.values()) <= detailed:
                        print(format_alert(alert))
            if time.monotonic() >= next_line and sum(total.values()) > detailed:
                counts = (
                    ", ".join(f"{k} +{v}" for k, v in sorted(period.items())) or "no new alerts"
                )
                print(f"  … up to {last_date or 'now'}: {counts}")
                period.clear()
                next_line = time.monotonic() + 2.0
    finally:
        consumer.close()
    return total


def format_alert(alert: dict[str, object]) -> str:
    """One line per alert; the user id is shown as a short hash."""
    user = hashlib.sha256(str(alert["user_id"]).encode()).hexdigest()[:8]
    silent_days = float(str(alert["silent_for_s"])) / DAY
    categories = ", ".join(str(c) for c in list(alert["top_categories"])[:3])  # type: ignore[call-overload]
    return (
        f"  {str(alert['emitted_at'])[:10]}  {alert['level']:<8} user#{user}  "
        f"P(return in {alert['horizon_days']:g}d)={float(str(alert['return_probability'])):.2f}  "
        f"silent {silent_days:5.1f} d  interests: {categories}"
    )


def print_summary(settings: Settings, levels: Counter[str]) -> None:
    """Users, events by type, dead letters and alerts, read back from Kafka."""
    assert settings.bootstrap_servers is not None
    bootstrap = settings.bootstrap_servers
    client = kafka_python_config(settings)
    table = latest_by_key(
        read_topic(bootstrap, changelog_topic(settings.app_id), client_config=client)
    )
    states = [decode_state(raw) for raw in table.values() if raw is not None]
    by_type: Counter[str] = Counter()
    for state in states:
        for event_type, count in zip(EVENT_TYPES, state.type_counts, strict=True):
            by_type[event_type.value] += count
    dead = sum(1 for _ in read_topic(bootstrap, settings.dead_letter_topic, client_config=client))
    print(f"\nuser-state table (read back from {changelog_topic(settings.app_id)}):")
    print(f"  users tracked: {len(states)}")
    print("  events by type: " + ", ".join(f"{k}={v}" for k, v in by_type.most_common() if v))
    print(f"  dead-letter messages: {dead}")
    print("  alerts seen: " + (", ".join(f"{k}={v}" for k, v in levels.most_common()) or "none"))
