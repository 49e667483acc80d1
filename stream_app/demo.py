"""`demo`: the main job end to end on one machine, with its output printed."""

from __future__ import annotations

import argparse
import os
import signal
from collections import Counter

from stream_app.cli import spawn_worker
from stream_app.datasets import load_events
from stream_app.kafka_io import latest_by_key, read_topic, wait_caught_up
from stream_app.replay import replay
from stream_app.settings import Settings
from stream_app.state import decode_state

CHANGELOG_SUFFIX = "-user-state-changelog"


def run_demo(settings: Settings, args: argparse.Namespace) -> int:
    """Start a worker, replay `args.limit` events of `args.source`, print what came out."""
    assert settings.bootstrap_servers is not None
    bootstrap = settings.bootstrap_servers
    client = settings.kafka_python_config()
    log_path = settings.data_dir / "demo-worker.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    print(f"worker starting; its log: {log_path}")
    worker = spawn_worker(settings, log_path=log_path)
    try:
        sent = replay(
            load_events(args.source), bootstrap=bootstrap, topic=settings.events_topic,
            partitions=settings.partitions, limit=args.limit, client_config=client,
        )  # fmt: skip
        print(f"replayed {sent} events of {args.source}; waiting for the worker to catch up …")
        wait_caught_up(
            bootstrap,
            settings.app_id,
            settings.events_topic,
            timeout_seconds=600,
            client_config=client,
        )
        print_summary(settings)
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(60)
    return 0


def print_summary(settings: Settings) -> None:
    """Users, events by type and dead letters, read back from Kafka."""
    assert settings.bootstrap_servers is not None
    bootstrap = settings.bootstrap_servers
    client = settings.kafka_python_config()
    table = latest_by_key(
        read_topic(bootstrap, settings.app_id + CHANGELOG_SUFFIX, client_config=client)
    )
    states = [decode_state(raw) for raw in table.values() if raw is not None]
    by_type: Counter[str] = Counter()
    for state in states:
        for recent_type, count in zip(
            ("view", "click", "cart", "fav", "purchase", "cancel"), state.type_counts, strict=True
        ):
            by_type[recent_type] += count
    dead = sum(1 for _ in read_topic(bootstrap, settings.dead_letter_topic, client_config=client))
    print(
        f"\nuser-state table (all runs so far, read back from {settings.app_id}{CHANGELOG_SUFFIX}):"
    )
    print(f"users tracked: {len(states)}")
    print("events by type: " + ", ".join(f"{k}={v}" for k, v in by_type.most_common()))
    print(f"dead-letter messages: {dead}")
    busiest = max(states, key=lambda s: s.events_total, default=None)
    if busiest is not None:
        print(
            f"busiest user: {busiest.events_total} events, last {len(busiest.recent)} kept in the sequence"
        )
