"""The commit unit: one changelog record per user per flush; offsets only after the flush's
acknowledgements."""

from __future__ import annotations

import pytest

from stream_app.service.checkpoint import Checkpoint
from stream_app.service.memory import MemoryCommitter, MemorySource, MemoryStore
from stream_app.service.ports import RawMessage, SourcePosition


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def message(partition: int, offset: int) -> RawMessage:
    return RawMessage(b"k", b"v", SourcePosition("events", partition, offset))


def checkpoint(store: MemoryStore, source: MemorySource, clock: Clock) -> Checkpoint:
    return Checkpoint(store, [source], MemoryCommitter(), 0.05, 1.0, clock)


async def test_a_user_written_many_times_between_flushes_is_one_record() -> None:
    store, source, clock = MemoryStore(), MemorySource("events"), Clock()
    cp = checkpoint(store, source, clock)
    for value in (b"1", b"2", b"3"):
        store[b"u1"] = value
        await cp.flush_if_due()  # not due: 50 ms have not passed
    store[b"u2"] = b"x"
    clock.now = 0.06
    await cp.flush_if_due()
    assert store.changelog == [(b"u1", b"3"), (b"u2", b"x")]


async def test_a_loop_caught_up_with_its_input_flushes_at_once() -> None:
    """Nothing waits, so nothing soon would coalesce: the writes are not held for 50 ms."""
    store, source, clock = MemoryStore(), MemorySource("events"), Clock()
    cp = checkpoint(store, source, clock)
    store[b"u1"] = b"1"
    await cp.after_batch(caught_up=False)  # input waits: cached until the flush is due
    assert store.changelog == []
    store[b"u1"] = b"2"
    await cp.after_batch(caught_up=True)
    assert store.changelog == [(b"u1", b"2")]
    await cp.after_batch(caught_up=True)  # nothing written since: nothing sent
    assert store.changelog == [(b"u1", b"2")]


def test_a_source_counts_the_messages_waiting_to_be_taken() -> None:
    source = MemorySource("events", [message(0, 0), message(0, 1)])
    assert source.waiting() == 2


async def test_offsets_are_committed_only_with_the_flush_acknowledged() -> None:
    class SlowStore(MemoryStore):
        persisted_calls = 0

        async def persisted(self) -> None:
            assert self.changelog, "offsets before the changelog"
            self.persisted_calls += 1

    store, source, clock = SlowStore(), MemorySource("events"), Clock()
    committer = MemoryCommitter()
    cp = Checkpoint(store, [source], committer, 0.05, 1.0, clock)
    store[b"u1"] = b"1"
    source.acknowledge([message(0, 4), message(1, 9)])
    await cp.after_batch()  # commit not due yet
    assert committer.commits == []
    clock.now = 1.0
    await cp.after_batch()
    assert committer.commits == [{"events": {0: 5, 1: 10}}]
    assert store.persisted_calls == 1
    assert source.uncommitted() == {}


async def test_a_failed_acknowledgement_commits_nothing() -> None:
    class FailingStore(MemoryStore):
        async def persisted(self) -> None:
            raise RuntimeError("changelog write failed")

    store, source = FailingStore(), MemorySource("events")
    committer = MemoryCommitter()
    cp = Checkpoint(store, [source], committer, 0.05, 1.0, Clock())
    source.acknowledge([message(0, 4)])
    with pytest.raises(RuntimeError):
        await cp.commit()
    assert committer.commits == []
    assert source.uncommitted() == {0: 5}


def test_an_idle_loop_waits_until_the_next_flush_or_commit() -> None:
    store, source, clock = MemoryStore(), MemorySource("events"), Clock()
    cp = checkpoint(store, source, clock)
    assert cp.idle_seconds() == pytest.approx(1.0)
    store[b"u1"] = b"1"
    assert cp.idle_seconds() == pytest.approx(0.05)
