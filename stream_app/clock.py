"""Clocks: everything that reads "now" takes one, so tests can move time without sleeping."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Protocol

SECONDS_PER_DAY = 86_400.0


class Clock(Protocol):
    """Source of wall-clock time in Unix seconds."""

    def now_seconds(self) -> float:
        """Current time."""
        ...


class SystemClock:
    """The machine's clock."""

    def now_seconds(self) -> float:
        """Current time."""
        return time.time()


@dataclass
class AcceleratedClock:
    """Time that runs `factor` times faster than the machine's: `start + (wall − anchor) × factor`.

    Used to play long silences (days) in seconds on a real broker; with an explicit
    `anchor_seconds` (wall time) several processes share one simulated timeline.
    """

    start_seconds: float
    factor: float = 1.0
    anchor_seconds: float = field(default_factory=time.time)

    def now_seconds(self) -> float:
        """Current accelerated time."""
        return self.start_seconds + (time.time() - self.anchor_seconds) * self.factor


def clock_from(start_seconds: float | None, factor: float, anchor_seconds: float | None) -> Clock:
    """The system clock, or an accelerated one when a start time is given."""
    if start_seconds is None:
        return SystemClock()
    return AcceleratedClock(
        start_seconds, factor, anchor_seconds if anchor_seconds is not None else time.time()
    )
