"""Offsets that Faust fetched but never delivered: detect them, so they can be fetched again.

Faust commits a partition only up to its first offset that was never acknowledged. Around a
restart or a rebalance its fetcher can drop messages it already counted as read (a fetch that
lands while the stream partitions are being resumed and seeked); those offsets are then never
acknowledged, every later one is, and the partition's commits stop for good. The worker checks
for that state on a timer and seeks the partition back to its committed offset: the dropped
messages arrive again, and the ones processed since are recognised as duplicates.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Generic, TypeVar

TP = TypeVar("TP")


@dataclass(frozen=True)
class OffsetGap(Generic[TP]):
    """Offsets [first, end) of a partition that were never acknowledged."""

    tp: TP
    first: int
    end: int


def stuck_gaps(
    acked: Mapping[TP, Collection[int]],
    committed: Mapping[TP, int | None],
    in_flight: Collection[TP],
    read_past: Mapping[TP, int | None] | None = None,
) -> list[OffsetGap[TP]]:
    """Partitions whose acknowledged offsets all lie beyond an unacknowledged gap, and
    partitions read past their committed offset with nothing acknowledged at all.

    `acked` is what waits to be committed, `committed` the next offset to read per partition,
    `in_flight` the partitions with a message delivered but not yet acknowledged (a gap there
    may still close by itself). `read_past` holds the last offset the fetch loop read and
    dropped: when it is at or past the committed offset and nothing was acknowledged, every
    message from the committed offset on was dropped (the tail of the partition, with no
    later message to reveal the gap).
    """
    read_past = read_past or {}
    gaps = []
    for tp in {**acked, **read_past}:
        next_offset = committed.get(tp)
        if next_offset is None or tp in in_flight:
            continue
        offsets = acked.get(tp, ())
        last_read = read_past.get(tp)
        if offsets and min(offsets) > next_offset:
            gaps.append(OffsetGap(tp, next_offset, min(offsets)))
        elif not offsets and last_read is not None and last_read >= next_offset:
            gaps.append(OffsetGap(tp, next_offset, last_read + 1))
    return gaps


@dataclass
class GapWatch(Generic[TP]):
    """Reports a gap only once it has been seen on `patience` consecutive checks."""

    patience: int = 3
    _seen: dict[OffsetGap[TP], int] = field(default_factory=dict)

    def confirmed(self, gaps: list[OffsetGap[TP]]) -> list[OffsetGap[TP]]:
        """The gaps of this check that were also there on the previous `patience - 1` checks."""
        self._seen = {gap: self._seen.get(gap, 0) + 1 for gap in gaps}
        ready = [gap for gap, count in self._seen.items() if count >= self.patience]
        for gap in ready:
            del self._seen[gap]
        return ready


@dataclass
class OffsetCursor:
    """The next offset each partition should deliver, so that nothing is applied past a gap.

    An event applied before an earlier one of its partition would make the earlier one look
    like a redelivery (the user's state already holds a later offset) and it would be skipped
    for good. So a message beyond the expected offset is held back (neither applied nor
    acknowledged) and the partition is fetched again from the expected offset. Offsets count as
    nonexistent (transaction markers, compaction) only when the broker says so (`skip_to`):
    Faust's own record of gaps cannot tell them from messages it dropped.
    """

    _next: dict[int, int] = field(default_factory=dict)
    _held: dict[int, int] = field(default_factory=dict)

    def restart(self, committed: Mapping[int, int | None]) -> None:
        """Start a new assignment at the committed offsets (None: from the first delivered)."""
        self._next = {p: o for p, o in committed.items() if o is not None}
        self._held.clear()

    def skip_to(self, partition: int, offset: int) -> None:
        """The broker's first offset from the expected one is `offset`: those between do not exist."""
        if self._next.get(partition, offset) < offset:
            self._next[partition] = offset

    def held_back(self, partition: int) -> int | None:
        """The highest offset held back on the partition and not applied since, if any."""
        return self._held.get(partition)

    def expected(self, partition: int) -> int | None:
        """The next offset the partition should deliver (None: any)."""
        return self._next.get(partition)

    def admit(self, partition: int, offset: int, committed: int | None = None) -> bool:
        """True if the message at `offset` may be applied now (and advance the cursor).

        `committed` is the partition's committed offset: everything before it was applied, so
        the cursor never waits below it.
        """
        expected = self._next.get(partition)
        if committed is not None and (expected is None or expected < committed):
            expected = self._next[partition] = committed
        if expected is not None and offset > expected:
            self._held[partition] = max(offset, self._held.get(partition, offset))
            return False
        if expected is None or offset >= expected:
            self._next[partition] = offset + 1
            if self._held.get(partition, offset + 1) <= offset:
                del self._held[partition]
        return True  # offset < expected: a redelivery, recognised as such downstream
