"""The hostile corpus through the real per-message path (decode → state → dead letter), no broker.

The same corpus runs on the real broker in `tests/integration/test_hostile.py`.
"""

from stream_app.clock import AcceleratedClock
from stream_app.events.dead_letter import DeadLetter
from stream_app.events.decode import DecodeLimits, RejectReason
from stream_app.events.partitioning import partition_for_key
from stream_app.state import decode_state
from stream_app.worker.metrics import Metrics
from stream_app.worker.pipeline import EventPipeline, SourcePosition
from tests.hostile_corpus import expected_counts, load_corpus

PARTITIONS = 4
NOW = 1_700_100_000.0


def test_corpus_is_large_varied_and_documented() -> None:
    corpus = load_corpus()
    cases = {m.case for m in corpus}
    assert len(cases) == len(corpus) >= 30 + 20
    assert all(m.why for m in corpus)
    reasons = {m.reason for m in corpus if m.reason}
    assert reasons <= {r.value for r in RejectReason}
    assert len(reasons) >= 9
    assert {m.expect for m in corpus if m.reason is None} == {"applied", "duplicate"}


async def test_every_case_ends_as_documented() -> None:
    corpus = load_corpus()
    store: dict[bytes, bytes] = {}
    letters: list[DeadLetter] = []

    async def sink(letter: DeadLetter) -> None:
        letters.append(letter)

    pipeline = EventPipeline(
        store=store,
        dead_letters=sink,
        clock=AcceleratedClock(NOW),
        metrics=Metrics(),
        limits=DecodeLimits(now_seconds=0.0),
        sequence_length=10,
        partitions=PARTITIONS,
    )
    offsets = [0] * PARTITIONS
    sent = {}
    for message in corpus:
        partition = message.partition(PARTITIONS)
        if partition is None:
            partition = partition_for_key(message.key or b"", PARTITIONS)
        source = SourcePosition("events", partition, offsets[partition])
        offsets[partition] += 1
        sent[(partition, source.offset)] = message
        await pipeline.handle(message.key, message.value, source)

    got = {(d.source_partition, d.source_offset): d for d in letters}
    for position, message in sent.items():
        letter = got.pop(position, None)
        if message.reason is None:
            assert letter is None, (message.case, letter and letter.detail)
            continue
        assert letter is not None, message.case
        assert (letter.reason, letter.key, letter.value) == (
            message.reason,
            message.key,
            message.value,
        ), (message.case, letter.detail)
    assert not got

    counts = expected_counts(corpus)
    assert {key: decode_state(value).events_total for key, value in store.items()} == counts
    ooo = decode_state(store[b"hostile-ooo"])
    assert ooo.last_event_seconds == 1_700_000_300 and ooo.first_event_seconds == 1_700_000_100
    assert [r.event_id for r in decode_state(store[b"hostile-dup"]).recent] == ["e1", "e2"]
    assert decode_state(store[b"hostile-price"]).spend_total == 1e12
    duplicates = pipeline.metrics.events_duplicate_total.labels("duplicate_event_id")
    assert duplicates._value.get() == 2
    assert pipeline.metrics.event_failures_total._value.get() == 0  # no processing_error
