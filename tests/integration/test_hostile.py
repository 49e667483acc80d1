"""Hostile input on the real broker: the corpus, and one user's event flood.

The corpus (`tests/data/hostile/corpus.jsonl`) is sent between real events: each message ends as
its line says (a dead letter with the right reason and the original bytes, or counted / skipped
in the user-state table) and the worker stays up. The flood sends one key far more events than
its ring keeps: the user's stored state and the worker's memory must stay bounded.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pytest

from stream_app.data.sources import load_events
from stream_app.kafka.clients import new_producer
from stream_app.kafka.reading import read_topic, wait_caught_up
from stream_app.settings import Settings
from stream_app.state import decode_state, state_bytes_bound
from stream_app.topology import changelog_topic
from tests.hostile_corpus import expected_counts, load_corpus
from tests.integration.support import WorkerFactory, WorkerProcess

pytestmark = pytest.mark.integration

REAL_EVENTS = 2_000
#: Events of the flooding user. A million would take 7-8 min of worker time on the 2-core dev
#: machine (200,000 are processed in ~86 s there, ~2.3k events/s); 200,000 is 4,000 times the
#: ring size, and the size bound asserted below does not depend on the count. Set
#: DECAY_TEST_FLOOD_EVENTS=1000000 to run the full million.
FLOOD_EVENTS = int(os.environ.get("DECAY_TEST_FLOOD_EVENTS", "200000"))
#: Events of a user whose every id is 256 astral characters (the largest ring entries).
WIDEST_EVENTS = 2_000
#: Growth of the worker's resident memory allowed while the flood is processed.
RSS_GROWTH_LIMIT_BYTES = 256 * 1024 * 1024
TS = 1_700_000_000


def changelog(settings: Settings) -> list[tuple[bytes, bytes]]:
    """Every (key, value) written to the user-state changelog, in order."""
    assert settings.bootstrap_servers
    records = read_topic(
        settings.bootstrap_servers, changelog_topic(settings.app_id), timeout_seconds=60
    )
    return [(r.key, r.value) for r in records if r.key is not None and r.value is not None]


def rss_bytes(worker: WorkerProcess) -> int:
    """VmRSS of the worker process, from /proc."""
    status = Path(f"/proc/{worker.process.pid}/status").read_text()
    line = next(x for x in status.splitlines() if x.startswith("VmRSS:"))
    return int(line.split()[1]) * 1024


CONNECT_HEADERS = {
    "topic": "source.topic",
    "partition": "source.partition",
    "offset": "source.offset",
}


def test_hostile_corpus_ends_as_documented(
    settings: Settings, workers: WorkerFactory, shared_data: Path
) -> None:
    worker = workers.start(settings)
    assert settings.bootstrap_servers
    corpus = load_corpus()
    good = list(load_events("taobao-slice", shared_data))[:REAL_EVENTS]
    producer = new_producer(settings.bootstrap_servers)
    sent = {}
    step = REAL_EVENTS // len(corpus)
    for i, event in enumerate(good):
        producer.send(
            settings.events_topic,
            key=event.user_id.encode(),
            value=json.dumps(event.to_json_dict()).encode(),
        )
        if i % step == 0 and i // step < len(corpus):
            message = corpus[i // step]
            meta = producer.send(
                settings.events_topic,
                key=message.key,
                value=message.value,
                partition=message.partition(settings.partitions),
            ).get(timeout=30)  # one at a time: a key's messages keep the file's order
            sent[(meta.partition, meta.offset)] = message
    producer.flush()
    producer.close()
    assert len(sent) == len(corpus)
    wait_caught_up(
        settings.bootstrap_servers, settings.app_id, settings.events_topic, timeout_seconds=180
    )

    letters = read_topic(settings.bootstrap_servers, settings.dead_letter_topic, timeout_seconds=30)
    got = {}
    for letter in letters:
        headers = {k: v.decode() for k, v in letter.headers}
        for connect, ours in CONNECT_HEADERS.items():  # Kafka Connect's beside ours, the same
            assert headers[f"__connect.errors.{connect}"] == headers[f"dlq.{ours}"]
        got[(int(headers["dlq.source.partition"]), int(headers["dlq.source.offset"]))] = (
            headers["dlq.reason"],
            letter.key,
            letter.value,
        )
    for position, message in sent.items():
        letter = got.pop(position, None)
        if message.reason is None:
            assert letter is None, message.case
        else:
            assert letter == (message.reason, message.key, message.value), message.case
    assert not got, "dead letters for real events"

    table = {key: decode_state(value) for key, value in changelog(settings)}  # last one wins
    for key, count in expected_counts(corpus).items():
        assert table[key].events_total == count, key
    corpus_keys = {m.key for m in corpus}
    real = {k: s for k, s in table.items() if k not in corpus_keys}
    assert sum(s.events_total for s in real.values()) == REAL_EVENTS
    assert not [k for k in table if k.startswith(b"hostile-bad")]
    ooo = table[b"hostile-ooo"]
    assert (ooo.first_event_seconds, ooo.last_event_seconds) == (TS + 100, TS + 300)
    assert worker.alive
    failures = [
        line
        for line in worker.http_get("/metrics").splitlines()
        if line.startswith("decay_event_failures_total ")
    ]
    assert failures == ["decay_event_failures_total 0.0"]


def flood_messages(user: str, count: int) -> list[tuple[bytes, bytes]]:
    key = user.encode()
    return [
        (
            key,
            json.dumps(
                {
                    "user_id": user,
                    "ts": TS + i,
                    "type": "view",
                    "item_id": f"i{i % 997}",
                    "category_id": f"c{i % 31}",
                    "event_id": f"e{i}",
                }
            ).encode(),
        )
        for i in range(count)
    ]


def widest_messages(count: int) -> list[tuple[bytes, bytes]]:
    """Every id 256 astral characters: each escapes to 3 KiB in the stored JSON."""
    wide = "\U0001f600" * 255
    user = wide + "\U0001f601"
    return [
        (
            user.encode(),
            json.dumps(
                {
                    "user_id": user,
                    "ts": TS + i,
                    "type": "purchase",
                    "price": 1e12,
                    "item_id": wide + chr(0x10000 + i),
                    "category_id": wide + chr(0x20000 + i),
                    "event_id": wide + chr(0x30000 + i),
                },
                ensure_ascii=False,
            ).encode(),
        )
        for i in range(count)
    ]


@pytest.mark.slow
def test_one_user_flood_keeps_state_and_memory_bounded(
    settings: Settings, workers: WorkerFactory
) -> None:
    """FLOOD_EVENTS events of one key, produced as fast as the producer goes, and a user with
    the widest ring entries: their changelog values stay under `state_bytes_bound` (whatever
    the count) and the worker's RSS grows less than RSS_GROWTH_LIMIT_BYTES."""
    worker = workers.start(settings)
    assert settings.bootstrap_servers
    time.sleep(2.0)  # let start-up allocations settle
    baseline = rss_bytes(worker)
    peak = [baseline]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set() and worker.alive:
            peak[0] = max(peak[0], rss_bytes(worker))
            time.sleep(0.25)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.monotonic()
    producer = new_producer(settings.bootstrap_servers)
    widest = widest_messages(WIDEST_EVENTS)
    for key, value in widest[: WIDEST_EVENTS // 2]:
        producer.send(settings.events_topic, key=key, value=value)
    for key, value in flood_messages("hostile-flood", FLOOD_EVENTS):
        producer.send(settings.events_topic, key=key, value=value)
    for key, value in widest[WIDEST_EVENTS // 2 :]:
        producer.send(settings.events_topic, key=key, value=value)
    producer.flush()
    producer.close()
    produced = time.monotonic() - started
    wait_caught_up(
        settings.bootstrap_servers, settings.app_id, settings.events_topic, timeout_seconds=1500
    )
    done.set()
    sampler.join()
    processed = time.monotonic() - started
    assert worker.alive

    values = changelog(settings)
    table = {k: decode_state(v) for k, v in values}
    flood = table[b"hostile-flood"]
    widest_key = widest[0][0]
    assert flood.events_total == FLOOD_EVENTS
    assert table[widest_key].events_total == WIDEST_EVENTS
    k = settings.sequence_length
    assert len(flood.recent) == len(table[widest_key].recent) == k
    assert flood.model is not None
    bound = state_bytes_bound(k, len(flood.model.h), len(flood.model.mu))
    sizes = {
        key: max(len(v) for kk, v in values if kk == key) for key in (b"hostile-flood", widest_key)
    }
    assert max(sizes.values()) <= bound, (sizes, bound)
    growth = peak[0] - baseline
    print(
        f"flood: {FLOOD_EVENTS} events produced in {produced:.1f} s, processed in {processed:.1f} s;"
        f" state bytes {sizes[b'hostile-flood']} (widest {sizes[widest_key]}, bound {bound});"
        f" RSS {baseline / 2**20:.0f} MiB -> peak {peak[0] / 2**20:.0f} MiB"
    )
    assert growth < RSS_GROWTH_LIMIT_BYTES, f"RSS grew {growth / 2**20:.0f} MiB"
