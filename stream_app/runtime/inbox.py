"""A bounded hand-over of fetched messages from the fetch loop to one batch-processing task."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Generic, TypeVar

T = TypeVar("T")


class MessageInbox(Generic[T]):
    """Messages in arrival order; `take` returns them a batch at a time.

    The fetch loop waits for space (`wait_for_space`) before it puts, so at most `maxsize`
    messages wait here. `clear` drops what waits (a rebalance does: the messages are fetched
    again from the committed offsets by whichever worker owns their partition then).
    """

    def __init__(self, maxsize: int) -> None:
        if maxsize < 1:
            raise ValueError(f"maxsize must be at least 1, got {maxsize}")
        self.maxsize = maxsize
        self._items: deque[T] = deque()
        self._arrived = asyncio.Event()
        self._enough = asyncio.Event()
        self._space = asyncio.Event()
        self._space.set()
        self._wanted = 1

    def __len__(self) -> int:
        return len(self._items)

    def full(self) -> bool:
        """True when a put would exceed `maxsize`."""
        return len(self._items) >= self.maxsize

    async def wait_for_space(self) -> None:
        """Return once a put fits."""
        while self.full():
            self._space.clear()
            await self._space.wait()

    def put_nowait(self, item: T) -> None:
        """Append one message (the caller waited for space)."""
        self._items.append(item)
        self._arrived.set()
        if len(self._items) >= self._wanted:
            self._enough.set()

    async def take(self, max_items: int, within: float) -> list[T]:
        """Wait for a first message, then up to `within` seconds for `max_items` of them.

        Returns between 1 and `max_items` messages, oldest first.
        """
        while True:
            while not self._items:
                self._arrived.clear()
                await self._arrived.wait()
            if len(self._items) < max_items:
                self._wanted = max_items
                self._enough.clear()
                try:
                    await asyncio.wait_for(self._enough.wait(), within)
                except TimeoutError:
                    pass
                finally:
                    self._wanted = 1
            if self._items:  # a `clear` while waiting empties it
                break
        count = min(max_items, len(self._items))
        batch = [self._items.popleft() for _ in range(count)]
        if not self.full():
            self._space.set()
        return batch

    def clear(self) -> None:
        """Drop every waiting message."""
        self._items.clear()
        self._space.set()
