"""Baseline (b): a bare Faust agent, one table update per event, the worker's broker settings.

Configured from the environment (set by bench.run): BENCH_BOOTSTRAP, BENCH_APP_ID, BENCH_TOPIC,
BENCH_PARTITIONS, BENCH_EXPECT (events to wait for), BENCH_RESULT (JSON file written when
BENCH_EXPECT events have been processed: wall time of the first and the last event).
Run: python -m bench.bare_app worker -l warn
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import faust

BOOTSTRAP = os.environ.get("BENCH_BOOTSTRAP", "127.0.0.1:9092")
PARTITIONS = int(os.environ.get("BENCH_PARTITIONS", "8"))
EXPECT = int(os.environ.get("BENCH_EXPECT", "0"))
RESULT = os.environ.get("BENCH_RESULT", "")

# Same knobs as stream_app.runtime.app.create_app with the default Settings (memory store, 1 s commits,
# acks=-1, raw serializers, earliest reset); no web server, no model, no policy.
app = faust.App(
    os.environ.get("BENCH_APP_ID", "bench-bare"),
    broker=f"kafka://{BOOTSTRAP}",
    store="memory://",
    datadir=os.environ.get("BENCH_DATADIR", "var/bench-bare"),
    topic_partitions=PARTITIONS,
    topic_replication_factor=1,
    topic_allow_declare=True,
    processing_guarantee="at_least_once",
    broker_commit_interval=1.0,
    broker_session_timeout=10.0,
    broker_heartbeat_interval=3.0,
    consumer_auto_offset_reset="earliest",
    producer_acks=-1,
    key_serializer="raw",
    value_serializer="raw",
    web_enabled=False,
)
events = app.topic(
    os.environ.get("BENCH_TOPIC", "bench.events"),
    key_type=bytes,
    value_type=bytes,
    partitions=PARTITIONS,
)
counts = app.Table(
    "counts", partitions=PARTITIONS, key_type=bytes, value_type=bytes, use_partitioner=True
)
progress: dict[str, Any] = {"n": 0, "first": None}


@app.agent(events, name="bare")
async def bare(stream: faust.StreamT[bytes]) -> None:
    async for event in stream.events():
        if progress["first"] is None:
            progress["first"] = time.time()
        key = event.message.key
        value = json.loads(event.message.value)  # decode, as (a) and (c) do
        old = counts.get(key)
        counts[key] = str((int(old) if old else 0) + 1).encode() if value else b"0"
        progress["n"] += 1
        if progress["n"] == EXPECT and RESULT:
            with open(RESULT, "w") as out:
                json.dump({"first": progress["first"], "last": time.time(), "n": EXPECT}, out)


if __name__ == "__main__":
    app.main()
