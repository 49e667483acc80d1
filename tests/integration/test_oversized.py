"""Messages the broker accepts but the dead-letter topic cannot hold whole, on the real broker.

The dead-letter topic is created with a 1 MiB `max.message.bytes` (below the worker's 4 MiB
default): a 5 MB event, a 5 MB non-UTF-8 value and a 2 MB key go to the dead-letter topic cut
to fit, with the original size and SHA-256 in headers; the small bad message between them is
there whole, and the valid events after them on the same partition are applied.
"""

from __future__ import annotations

import hashlib
import json

import pytest

from stream_app.events.partitioning import partition_for_key
from stream_app.kafka.clients import ensure_topic, new_producer
from stream_app.kafka.reading import read_topic, wait_caught_up
from stream_app.settings import Settings
from tests.integration.support import WorkerFactory, table

pytestmark = pytest.mark.integration

DLQ_TOPIC_MAX_BYTES = 1024 * 1024
VALID_AFTER = 50
TS = 1_700_000_000


def event(user: str, i: int, item: str = "i") -> bytes:
    return json.dumps(
        {"user_id": user, "ts": TS + i, "type": "view", "item_id": f"{item}{i}"}
    ).encode()


def test_oversized_letters_are_cut_to_fit_and_the_partition_goes_on(
    settings: Settings, workers: WorkerFactory
) -> None:
    assert settings.bootstrap_servers
    bootstrap = settings.bootstrap_servers
    ensure_topic(
        bootstrap, settings.dead_letter_topic, settings.partitions,
        {"max.message.bytes": str(DLQ_TOPIC_MAX_BYTES)},
    )  # fmt: skip
    ensure_topic(bootstrap, settings.events_topic, settings.partitions)
    user = "oversized-user"
    key = user.encode()
    partition = partition_for_key(key, settings.partitions)
    bad = [
        (key, event(user, 0, item="x" * 5_000_000)),  # valid JSON, 5 MB: payload_too_large
        (key, b"\xff" * 5_000_000),  # 5 MB, not UTF-8
        (key, b"{not json"),  # small: carried whole
        (b"k" * 2_000_000, event(user, 1)),  # a 2 MB key
    ]
    producer = new_producer(bootstrap)
    offsets = []
    for bad_key, value in bad:
        offsets.append(
            producer.send(settings.events_topic, key=bad_key, value=value, partition=partition)
        )
    for i in range(VALID_AFTER):
        producer.send(
            settings.events_topic, key=key, value=event(user, 10 + i), partition=partition
        )
    producer.flush()
    sent_at = [future.get(timeout=30).offset for future in offsets]
    producer.close()

    worker = workers.start(settings)
    wait_caught_up(bootstrap, settings.app_id, settings.events_topic, timeout_seconds=120)
    assert worker.alive, worker.log()
    assert "cut to" in worker.log()

    letters = {}
    for letter in read_topic(bootstrap, settings.dead_letter_topic, timeout_seconds=30):
        headers = {k: v.decode() for k, v in letter.headers}
        letters[int(headers["dlq.source.offset"])] = (letter, headers)
    assert sorted(letters) == sent_at, "every bad message on the dead-letter topic"
    for (bad_key, value), offset in zip(bad, sent_at, strict=True):
        letter, headers = letters[offset]
        assert len(letter.key or b"") + len(letter.value or b"") < DLQ_TOPIC_MAX_BYTES
        if len(value) < 1000 and len(bad_key) < 1000:
            assert (letter.key, letter.value) == (bad_key, value)
            assert "dlq.truncated" not in headers
            continue
        part, original = ("value", value) if len(value) > len(bad_key) else ("key", bad_key)
        assert part in headers["dlq.truncated"].split(",")
        assert headers[f"dlq.original.{part}_bytes"] == str(len(original))
        assert headers[f"dlq.original.{part}_sha256"] == hashlib.sha256(original).hexdigest()
        assert original.startswith(getattr(letter, part))
    assert table(settings)[user].events_total == VALID_AFTER
