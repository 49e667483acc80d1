"""`decay-stream worker`: run the stream worker until stopped."""

from __future__ import annotations

import argparse
import gc
import sys

from stream_app.commands.broker import embedded_broker
from stream_app.kafka.clients import ensure_topic
from stream_app.settings import Settings


def run_worker(settings: Settings, args: argparse.Namespace) -> int:
    """Create the topics the worker does not own, then run it in the foreground."""
    import faust

    from stream_app.policy import PolicyError
    from stream_app.runtime.app import create_app

    with embedded_broker(settings) as bootstrap:
        try:
            engine = create_app(settings.model_copy(update={"bootstrap_servers": bootstrap}))
        except PolicyError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        for topic, config in engine.topic_specs().items():
            ensure_topic(
                bootstrap, topic, settings.partitions, config,
                settings.kafka_python_config(), settings.replication_factor,
            )  # fmt: skip
        worker = faust.Worker(engine.app, loglevel=settings.log_level.lower(), quiet=True)
        # The ~150k objects of the loaded libraries, the app and the model live as long as the
        # process; frozen, the cyclic garbage collector stops walking them on every full
        # collection. The per-user objects (schedule entries, states in flight) churn batch
        # after batch: with the default thresholds the collector ran ~150 full collections and
        # took ~30 % of a busy worker's time at 120k users; collecting young objects every 50k
        # allocations instead of 700 leaves it ~1 % (bench/NOTES.md, attempts 5 and 9).
        gc.freeze()
        gc.set_threshold(50_000, 20, 20)
        worker.execute_from_commandline()
    return 0
