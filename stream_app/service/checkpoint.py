"""The commit unit, in one place: state flush → the flush's acknowledgements → offsets.

As quix-streams' checkpoint and Kafka Streams' commit: the state store caches each user's last
value and, while input keeps waiting, sends one changelog record per user at most every
`flush_seconds` (so a user written by several batches in between costs one record); a loop that
has caught up with its input flushes at once, since no write soon would coalesce with those
cached and each would only wait. Every `commit_seconds` the store is flushed,
its records are awaited, and only then are the acknowledged offsets of every source committed
(with exactly-once, the commit also commits each partition's transaction: one transaction per
commit). Callers hold the state lock, so no batch is applied in between.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from stream_app.service.ports import BatchSource, Committer, StateStore


@dataclass
class Checkpoint:
    """When the state is flushed and when offsets are committed, for every source."""

    store: StateStore
    sources: Sequence[BatchSource]
    committer: Committer
    flush_seconds: float
    commit_seconds: float
    clock: Callable[[], float] = time.monotonic
    _flushed_at: float = field(default=0.0, init=False)
    _committed_at: float = field(default=0.0, init=False)

    def __post_init__(self) -> None:
        self._flushed_at = self._committed_at = self.clock()

    async def flush_if_due(self) -> None:
        """Flush the store's cached writes when the last flush is `flush_seconds` old."""
        if self.store.dirty() and self.clock() - self._flushed_at >= self.flush_seconds:
            await self.flush()

    async def flush(self) -> None:
        """Send the changelog of every user written since the last flush."""
        self._flushed_at = self.clock()
        await self.store.flush()

    async def after_batch(self, caught_up: bool = False) -> None:
        """A batch was applied: commit when due, else flush when due or when its loop has
        `caught_up` (no input waits)."""
        if self.clock() - self._committed_at >= self.commit_seconds:
            await self.commit()
        elif caught_up and self.store.dirty():
            await self.flush()
        else:
            await self.flush_if_due()

    async def commit(self) -> None:
        """Flush, wait for the changelog's acknowledgements, then commit every source's offsets.

        A failed acknowledgement raises here, before any offset it covers is committed.
        """
        await self.flush()
        await self.store.persisted()
        self._committed_at = self.clock()
        offsets = {source.topic: source.uncommitted() for source in self.sources}
        offsets = {topic: parts for topic, parts in offsets.items() if parts}
        if offsets and await self.committer.commit(offsets):
            for source in self.sources:
                if source.topic in offsets:
                    source.committed(offsets[source.topic])

    def idle_seconds(self) -> float:
        """How long a loop may wait for input before the next flush or commit falls due."""
        now = self.clock()
        due = self._committed_at + self.commit_seconds
        if self.store.dirty():
            due = min(due, self._flushed_at + self.flush_seconds)
        return max(due - now, 0.001)
