"""`replay`: stream a dataset into the events topic, as fast as possible or at real time × factor."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterable, Iterator
from itertools import islice

from tqdm import tqdm

from stream_app.commands.broker import embedded_broker
from stream_app.data.sources import load_events
from stream_app.events.partitioning import Partitioner, partition_for_key
from stream_app.events.schema import Event
from stream_app.kafka.admin import wait_for_leaders
from stream_app.kafka.clients import ensure_topic, new_producer
from stream_app.kafka.connection import kafka_python_config
from stream_app.settings import Settings


def encode_event(event: Event) -> tuple[bytes, bytes]:
    """(key, value) of an event on the events topic: keyed by user id, JSON value."""
    value = json.dumps(event.to_json_dict(), separators=(",", ":")).encode("utf-8")
    return event.user_id.encode("utf-8"), value


def paced(events: Iterable[Event], speed: float | None) -> Iterator[Event]:
    """Events released at event-time pace divided by `speed` (None: no waiting)."""
    if speed is None:
        yield from events
        return
    start_wall = time.monotonic()
    start_event: float | None = None
    for event in events:
        start_event = event.ts_seconds if start_event is None else start_event
        due = start_wall + (event.ts_seconds - start_event) / speed
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        yield event


def replay(
    events: Iterable[Event],
    *,
    bootstrap: str,
    topic: str,
    partitions: int,
    limit: int | None = None,
    speed: float | None = None,
    progress: bool = True,
    client_config: dict[str, object] | None = None,
    partitioner: Partitioner = Partitioner.MURMUR2,
) -> int:
    """Produce events to `topic` (created with `partitions` if missing); returns the count.

    Keys go where `partitioner` puts them (kafka-python's own is murmur2).
    """
    ensure_topic(bootstrap, topic, partitions, client_config=client_config)
    wait_for_leaders(bootstrap, topic, partitions, client_config)  # no NotLeader retries after
    producer = new_producer(bootstrap, client_config)
    selected = islice(events, limit) if limit is not None else events
    sent = 0
    try:
        with tqdm(total=limit, unit="ev", disable=not progress, desc=f"replay → {topic}") as bar:
            for event in paced(selected, speed):
                key, value = encode_event(event)
                partition = None
                if partitioner is not Partitioner.MURMUR2:
                    partition = partition_for_key(key, partitions, partitioner)
                producer.send(topic, key=key, value=value, partition=partition)
                sent += 1
                bar.update()
        producer.flush()
    finally:
        producer.close()
    return sent


def run_replay(settings: Settings, args: argparse.Namespace) -> int:
    """Stream `args.source` into the events topic (or `args.topic`)."""
    events = load_events(args.source)  # an unknown source is refused before any broker starts
    with embedded_broker(settings) as bootstrap:
        sent = replay(
            events,
            bootstrap=bootstrap,
            topic=args.topic or settings.events_topic,
            partitions=settings.partitions,
            limit=args.limit,
            speed=args.speed,
            progress=not args.quiet,
            client_config=kafka_python_config(settings),
            partitioner=settings.producer_partitioner,
        )
    print(f"replayed {sent} events from {args.source}", file=sys.stderr)
    return 0
