"""The service's ports in memory: a source over lists of messages, a store over a dict, a
sink and a committer that record what they were given. The service's tests run on them
without a broker; they also show what an adapter must do, and nothing more."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from stream_app.service.ports import Batch, PartitionPosition, RawMessage, end_offsets


def acknowledged() -> Awaitable[None]:
    """An acknowledgement that has already arrived."""
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    done.set_result(None)
    return done


@dataclass
class MemorySource:
    """A `BatchSource` over a list of messages of one topic, delivered in order."""

    topic: str
    messages: list[RawMessage] = field(default_factory=list)
    generation: int = 0
    _taken: int = 0
    _acked: dict[int, int] = field(default_factory=dict)
    _committed: dict[int, int] = field(default_factory=dict)

    def append(self, message: RawMessage) -> None:
        """One more message to deliver."""
        self.messages.append(message)

    def drained(self) -> bool:
        """True once every message was taken."""
        return self._taken >= len(self.messages)

    async def take(self, max_messages: int, within_seconds: float, idle_seconds: float) -> Batch:
        """The next messages at once (an empty batch after `idle_seconds` when none is left)."""
        if self.drained():
            await asyncio.sleep(min(idle_seconds, 0.01))
            return Batch([], self.generation)
        batch = self.messages[self._taken : self._taken + max_messages]
        self._taken += len(batch)
        return Batch(batch, self.generation)

    def waiting(self) -> int:
        """Messages not yet taken."""
        return len(self.messages) - self._taken

    def admit(self, batch: Batch) -> list[RawMessage]:
        """The batch, unless it was taken under an earlier generation."""
        return batch.messages if batch.generation == self.generation else []

    def acknowledge(self, messages: Sequence[RawMessage]) -> None:
        """One offset per partition."""
        for partition, end in end_offsets(messages).items():
            self._acked[partition] = max(end, self._acked.get(partition, 0))

    def uncommitted(self) -> dict[int, int]:
        """Acknowledged past the committed offset."""
        return {p: o for p, o in self._acked.items() if o > self._committed.get(p, 0)}

    def committed(self, offsets: dict[int, int]) -> None:
        """Record the commit."""
        self._committed.update(offsets)

    def committed_offsets(self) -> dict[int, int]:
        """Partition → committed offset."""
        return dict(self._committed)

    def assigned(self) -> set[int]:
        """Every partition of the messages."""
        return {m.source.partition for m in self.messages}

    def positions(self) -> list[PartitionPosition]:
        """Processed and end offset of every partition."""
        ends = end_offsets(self.messages)
        return [
            PartitionPosition(p, max(self._acked.get(p, 0), self._committed.get(p, 0)) - 1, end)
            for p, end in sorted(ends.items())
        ]


@dataclass
class MemoryStore:
    """A `StateStore` over a dict; `changelog` holds the records each flush sent, in order."""

    values: dict[bytes, bytes] = field(default_factory=dict)
    changelog: list[tuple[bytes, bytes]] = field(default_factory=list)
    flushes: int = 0
    _dirty: dict[bytes, bytes] = field(default_factory=dict)

    def get(self, key: bytes) -> bytes | None:
        """Stored value or None."""
        return self.values.get(key)

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self.values[key] = value
        self._dirty[key] = value

    def __len__(self) -> int:
        return len(self.values)

    def items(self) -> Iterable[tuple[bytes, bytes]]:
        """Every key and value."""
        return list(self.values.items())

    def dirty(self) -> int:
        """Users written since the last flush."""
        return len(self._dirty)

    async def flush(self) -> None:
        """One changelog record per user written since the last flush."""
        dirty, self._dirty = self._dirty, {}
        self.changelog.extend(dirty.items())
        self.flushes += 1

    async def persisted(self) -> None:
        """Every record is acknowledged at once."""


@dataclass
class MemorySink:
    """An `OutputSink` that keeps every message sent: (topic, key, value, source)."""

    sent: list[tuple[str, bytes | None, bytes | None, tuple[str, int] | None]] = field(
        default_factory=list
    )

    async def send(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        *,
        partition: int | None,
        source: tuple[str, int] | None,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> Awaitable[Any]:
        """Keep the message; acknowledged at once."""
        self.sent.append((topic, key, value, source))
        return acknowledged()

    def on(self, topic: str) -> list[tuple[bytes | None, bytes | None]]:
        """Keys and values sent to one topic."""
        return [(key, value) for t, key, value, _ in self.sent if t == topic]


@dataclass
class MemoryCommitter:
    """A `Committer` that records each commit."""

    commits: list[dict[str, dict[int, int]]] = field(default_factory=list)

    async def commit(self, offsets: dict[str, dict[int, int]]) -> bool:
        """Record the commit."""
        self.commits.append(offsets)
        return True
