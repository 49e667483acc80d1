"""Peer (d): a quixstreams application doing exactly (b)'s work ([bench] extra).

Per event: decode the JSON value, one update of a changelog-backed RocksDB state keyed by the
message key (quixstreams' default store; it has no in-memory store). Same broker, topic
contents, 1 s commit interval, acks=all and earliest reset as (b). Configured from the
environment like bench/bare_app.py: BENCH_BOOTSTRAP, BENCH_APP_ID, BENCH_TOPIC, BENCH_DATADIR,
BENCH_EXPECT, BENCH_RESULT (JSON written when BENCH_EXPECT events have been processed: wall
time of the first and the last event). Run: python -m bench.quix_app
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from quixstreams import Application, State

EXPECT = int(os.environ.get("BENCH_EXPECT", "0"))
RESULT = os.environ.get("BENCH_RESULT", "")

app = Application(
    broker_address=os.environ.get("BENCH_BOOTSTRAP", "127.0.0.1:9092"),
    consumer_group=os.environ.get("BENCH_APP_ID", "bench-quix"),
    auto_offset_reset="earliest",
    commit_interval=1.0,
    state_dir=os.environ.get("BENCH_DATADIR", "var/bench-quix"),
    use_changelog_topics=True,
    processing_guarantee="at-least-once",
    producer_extra_config={"acks": "all"},
    loglevel="WARNING",
)
events = app.topic(
    os.environ.get("BENCH_TOPIC", "bench.events"),
    key_deserializer="bytes",
    value_deserializer="bytes",
)
progress: dict[str, Any] = {"n": 0, "first": None}


def count(raw: bytes, state: State[Any, Any]) -> None:
    """(b)'s per-event work: decode, read the user's count, write it back plus one."""
    if progress["first"] is None:
        progress["first"] = time.time()
    value = json.loads(raw)  # decode, as (a), (b) and (c) do
    old = state.get("n")
    state.set("n", str((int(old) if old else 0) + 1) if value else "0")
    progress["n"] += 1
    if progress["n"] == EXPECT and RESULT:
        with open(RESULT, "w") as out:
            json.dump({"first": progress["first"], "last": time.time(), "n": EXPECT}, out)


sdf = app.dataframe(events)
sdf = sdf.update(count, stateful=True)

if __name__ == "__main__":
    app.run()
