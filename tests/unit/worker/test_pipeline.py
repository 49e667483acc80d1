import json
from dataclasses import replace

from stream_app.clock import AcceleratedClock
from stream_app.events.alert import Alert
from stream_app.events.dead_letter import DeadLetter
from stream_app.events.decode import DecodeLimits
from stream_app.events.partitioning import Partitioner, partition_for_key
from stream_app.schedule.outcomes import open_predictions
from stream_app.state import UserState, decode_state, encode_state
from stream_app.worker.metrics import Metrics
from stream_app.worker.pipeline import EventPipeline, SourcePosition

NOW = 1_700_000_000.0


def make_pipeline(store: dict[bytes, bytes], letters: list[DeadLetter]) -> EventPipeline:
    async def sink(letter: DeadLetter) -> None:
        letters.append(letter)

    return EventPipeline(
        store=store,
        dead_letters=sink,
        clock=AcceleratedClock(NOW),
        metrics=Metrics(),
        limits=DecodeLimits(now_seconds=0.0),
        sequence_length=10,
    )


async def test_valid_and_invalid_messages() -> None:
    store: dict[bytes, bytes] = {}
    letters: list[DeadLetter] = []
    pipeline = make_pipeline(store, letters)
    good = json.dumps({"user_id": "u1", "ts": NOW, "type": "view", "item_id": "i"}).encode()
    await pipeline.handle(b"u1", good, SourcePosition("events", 0, 0))
    await pipeline.handle(b"u1", b"{bad", SourcePosition("events", 0, 1))
    assert decode_state(store[b"u1"]).events_total == 1
    assert [(d.reason, d.value, d.source_offset) for d in letters] == [("invalid_json", b"{bad", 1)]


async def test_unexpected_failure_goes_to_dead_letter_and_does_not_raise() -> None:
    class BrokenStore(dict[bytes, bytes]):
        def get(self, key: bytes, default: object = None) -> bytes | None:  # type: ignore[override]
            raise RuntimeError("disk on fire")

    letters: list[DeadLetter] = []
    pipeline = make_pipeline(BrokenStore(), letters)
    good = json.dumps({"user_id": "u1", "ts": NOW, "type": "view", "item_id": "i"}).encode()
    await pipeline.handle(b"u1", good, SourcePosition("events", 2, 5))
    assert [(d.reason, d.detail, d.value) for d in letters] == [
        ("processing_error", "RuntimeError", good)
    ]
    assert pipeline.metrics.event_failures_total._value.get() == 1


async def test_a_failed_batch_retried_one_by_one_sends_each_letter_once() -> None:
    class FailsOnce(dict[bytes, bytes]):
        failed = False

        def get(self, key: bytes, default: object = None) -> bytes | None:  # type: ignore[override]
            if not self.failed:
                self.failed = True
                raise RuntimeError("transient")
            return super().get(key)

    letters: list[DeadLetter] = []
    store = FailsOnce()
    pipeline = make_pipeline(store, letters)
    good = json.dumps({"user_id": "u1", "ts": NOW, "type": "view", "item_id": "i"}).encode()
    from stream_app.worker.pipeline import RawMessage

    await pipeline.handle_batch(
        [
            RawMessage(b"u1", b"{bad", SourcePosition("events", 0, 0)),
            RawMessage(b"u1", good, SourcePosition("events", 0, 1)),
        ]
    )
    assert [(d.reason, d.source_offset) for d in letters] == [("invalid_json", 0)]
    assert decode_state(store[b"u1"]).events_total == 1


async def test_a_return_is_noted_on_the_open_predictions_and_counted_after_h() -> None:
    alert = Alert("id", "u1", "warning", 0.3, 30.0, 0.0, "", [], "v1", "")
    silent = UserState(events_total=1, last_event_seconds=NOW - 40 * 86_400, last_offset=0)
    state = open_predictions(silent, [alert], [[("push", True)]], NOW - 86_400, 30 * 86_400.0)
    store = {b"u1": encode_state(state)}
    pipeline = make_pipeline(store, [])
    cancel = {"user_id": "u1", "ts": NOW, "type": "cancel", "item_id": "i", "price": 3.0}
    await pipeline.handle(b"u1", json.dumps(cancel).encode(), SourcePosition("events", 0, 1))
    assert len(decode_state(store[b"u1"]).predictions) == 1  # a cancellation is no return
    view = {"user_id": "u1", "ts": NOW, "type": "view", "item_id": "i"}
    await pipeline.handle(b"u1", json.dumps(view).encode(), SourcePosition("events", 0, 2))
    after = decode_state(store[b"u1"])
    assert [p.returned_seconds for p in after.predictions] == [NOW]
    assert not after.outcomes and not pipeline.metrics.outcome_totals.partitions  # H not passed
    late = open_predictions(silent, [alert], [[("push", True)]], NOW - 31 * 86_400, 30 * 86_400.0)
    store[b"u1"] = encode_state(late)
    view = {**view, "ts": NOW + 1.0}
    await pipeline.handle(b"u1", json.dumps(view).encode(), SourcePosition("events", 0, 3))
    after = decode_state(store[b"u1"])
    assert after.predictions == ()  # a return after the horizon: counted as not returned now
    assert [(t.predictions, t.returned) for _, t in after.outcomes.alerts] == [(1, 0)]
    totals = pipeline.metrics.outcome_totals.partitions[0]
    assert [(t.predictions, t.returned) for t in totals.alerts.values()] == [(1, 0)]
    assert list(totals.actions.values()) == [(1, 0)]


async def test_the_wrong_partition_check_follows_the_producers_partitioner() -> None:
    key = next(
        k
        for k in (f"u{i}".encode() for i in range(100))
        if partition_for_key(k, 8) != partition_for_key(k, 8, Partitioner.CRC32)
    )
    value = json.dumps({"user_id": key.decode(), "ts": NOW, "type": "view", "item_id": "i"})
    crc32_partition = partition_for_key(key, 8, Partitioner.CRC32)
    for partitioner, refused_on in ((Partitioner.MURMUR2, 1), (Partitioner.CRC32, 0)):
        store: dict[bytes, bytes] = {}
        letters: list[DeadLetter] = []
        pipeline = replace(make_pipeline(store, letters), partitions=8, partitioner=partitioner)
        partitions = (partition_for_key(key, 8), crc32_partition)
        for offset, partition in enumerate(partitions):
            await pipeline.handle(key, value.encode(), SourcePosition("events", partition, offset))
        assert decode_state(store[key]).events_total == 1
        assert [(d.reason, d.source_partition) for d in letters] == [
            ("wrong_partition", partitions[refused_on])
        ]
        assert partitioner.value in letters[0].detail
