"""Whether each partition makes progress: a partition with messages waiting and no message
processed for `stall_seconds` is stalled, and the worker is then neither live nor ready (pure)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Stall:
    """A partition that made no progress while messages waited on it."""

    partition: int
    waiting_messages: int
    since_seconds: float

    def reason(self, now_seconds: float) -> str:
        """Why the worker is not healthy, for /health (no user ids, no payloads)."""
        stuck_for = now_seconds - self.since_seconds
        return (
            f"partition {self.partition}: no progress for {stuck_for:.0f} s"
            f" with {self.waiting_messages} messages waiting"
        )


@dataclass
class ProgressWatch:
    """Last progress per partition; `observe` says which partitions are stalled now."""

    stall_seconds: float
    #: partition → (last processed offset seen, when it last changed or nothing waited)
    _seen: dict[int, tuple[int | None, float]] = field(default_factory=dict)
    stalled: dict[int, Stall] = field(default_factory=dict)

    def reset(self) -> None:
        """Forget everything (a new assignment)."""
        self._seen.clear()
        self.stalled.clear()

    def observe(
        self, partition: int, processed: int | None, highwater: int | None, now_seconds: float
    ) -> Stall | None:
        """Record a partition's position; returns a Stall when it is newly stalled."""
        waiting = (
            0 if highwater is None else highwater - (-1 if processed is None else processed) - 1
        )
        last, since = self._seen.get(partition, (processed, now_seconds))
        if processed != last or waiting <= 0:
            since = now_seconds
            self.stalled.pop(partition, None)
        self._seen[partition] = (processed, since)
        if waiting > 0 and now_seconds - since >= self.stall_seconds:
            new = partition not in self.stalled
            self.stalled[partition] = Stall(partition, waiting, since)
            return self.stalled[partition] if new else None
        return None

    def reasons(self, now_seconds: float) -> list[str]:
        """One reason per stalled partition (empty: every partition makes progress)."""
        return [stall.reason(now_seconds) for _, stall in sorted(self.stalled.items())]
