"""Clocks: everything that reads "now" takes one, so tests can move time without sleeping."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Protocol


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
    """Time that runs `factor` times faster than the machine's, from `start_seconds` on.

    Used to play long silences (days) in seconds on a real broker.
    """

    start_seconds: float
    factor: float = 1.0
    _origin: float = field(default_factory=time.monotonic)

    def now_seconds(self) -> float:
        """Current accelerated time."""
        return self.start_seconds + (time.monotonic() - self._origin) * self.factor
