"""The ports the service speaks to: a batch source, a state store and an output sink.

They speak the service's terms (a batch, its offsets per partition, a user's state value, an
output and where it came from), never a framework's bookkeeping. The Faust adapter
(`stream_app.runtime`) implements them on a Kafka consumer group; `stream_app.service.memory`
implements them in memory for the service's tests.
"""

from __future__ import annotations

from collections.abc import Awaitable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class SourcePosition:
    """Where a message came from."""

    topic: str
    partition: int
    offset: int


@dataclass(frozen=True, slots=True)
class RawMessage:
    """One message of an input topic as consumed (bytes, decoded by the service)."""

    key: bytes | None
    value: bytes | None
    source: SourcePosition


def end_offsets(messages: Sequence[RawMessage]) -> dict[int, int]:
    """Partition → the offset after its last message in `messages` (what a commit records)."""
    ends: dict[int, int] = {}
    for message in messages:
        source = message.source
        if source.offset >= ends.get(source.partition, 0):
            ends[source.partition] = source.offset + 1
    return ends


@dataclass(frozen=True, slots=True)
class Batch:
    """Messages taken together from one source, oldest first per partition.

    `generation` counts the source's assignments: a batch taken before a revocation is not
    applied under the next assignment (`BatchSource.admit`).
    """

    messages: list[RawMessage] = field(default_factory=list)
    generation: int = 0


@dataclass(frozen=True, slots=True)
class PartitionPosition:
    """How far one assigned partition is processed: for lag, progress and health."""

    partition: int
    #: The last offset processed (acknowledged), or the one before the committed offset.
    processed: int | None
    #: The partition's end offset (the next offset to be written), when known.
    end: int | None


class BatchSource(Protocol):
    """Messages of one input topic, a batch at a time, in offset order per partition."""

    topic: str

    async def take(self, max_messages: int, within_seconds: float, idle_seconds: float) -> Batch:
        """Up to `max_messages` messages, waiting up to `within_seconds` after the first for
        more; an empty batch when nothing arrived for `idle_seconds`."""
        ...

    def admit(self, batch: Batch) -> list[RawMessage]:
        """The batch's messages of partitions still assigned since it was taken."""
        ...

    def waiting(self) -> int:
        """Messages that could be taken now, without waiting (0: the source has caught up)."""
        ...

    def acknowledge(self, messages: Sequence[RawMessage]) -> None:
        """The messages' effects are in the state store: their offsets may be committed once
        the store is flushed and acknowledged (one offset per partition)."""
        ...

    def uncommitted(self) -> dict[int, int]:
        """Partition → offset to commit, for the partitions acknowledged past their commit."""
        ...

    def committed(self, offsets: dict[int, int]) -> None:
        """The offsets were committed."""
        ...

    def assigned(self) -> set[int]:
        """The partitions this worker processes now (recovered and started)."""
        ...

    def positions(self) -> list[PartitionPosition]:
        """Where each assigned partition stands."""
        ...


class UserStates(Protocol):
    """User state values by key, as the per-batch service reads and writes them (a dict is
    one)."""

    def get(self, key: bytes) -> bytes | None:
        """Stored value or None."""
        ...

    def __setitem__(self, key: bytes, value: bytes) -> None:
        """Store a new value."""
        ...


class StateStore(UserStates, Protocol):
    """User states by key: reads see every write; writes reach the changelog on `flush`.

    Writes are cached until a flush, which sends one changelog record per user written since
    the last one (the last value), however many times it was written.
    """

    def __len__(self) -> int:
        """Users stored."""
        ...

    def items(self) -> Iterable[tuple[bytes, bytes]]:
        """Every key and value stored locally."""
        ...

    def dirty(self) -> int:
        """Users written since the last flush."""
        ...

    async def flush(self) -> None:
        """Send the changelog record of every user written since the last flush (not awaited)."""
        ...

    async def persisted(self) -> None:
        """Wait until every changelog record sent so far is acknowledged (raises if one failed)."""
        ...


class OutputSink(Protocol):
    """Sends an output; the returned awaitable is the broker's acknowledgement.

    `source` is the input partition whose processing caused the output (with exactly-once, the
    output joins that partition's transaction); None for an output of no input (a due tick).
    """

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
        """Send; returns the acknowledgement to await."""
        ...


class Committer(Protocol):
    """Commits offsets of input partitions (with exactly-once, their transactions too)."""

    async def commit(self, offsets: dict[str, dict[int, int]]) -> bool:
        """Commit topic → partition → next offset; False when nothing was committed."""
        ...
