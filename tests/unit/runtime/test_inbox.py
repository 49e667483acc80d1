"""The inbox hands messages to the batch task in order, bounded, and drops them on clear."""

from __future__ import annotations

import asyncio

import pytest

from stream_app.runtime.inbox import MessageInbox


async def test_take_returns_at_most_max_items_oldest_first() -> None:
    inbox: MessageInbox[int] = MessageInbox(maxsize=10)
    for i in range(5):
        inbox.put_nowait(i)
    assert await inbox.take(3, within=1.0) == [0, 1, 2]
    assert await inbox.take(3, within=0.01) == [3, 4]  # fewer once the window is over
    assert len(inbox) == 0


async def test_take_waits_for_the_first_message_then_returns_when_the_batch_is_full() -> None:
    inbox: MessageInbox[int] = MessageInbox(maxsize=10)
    taking = asyncio.create_task(inbox.take(2, within=30.0))
    await asyncio.sleep(0.01)
    assert not taking.done()  # nothing yet
    inbox.put_nowait(1)
    await asyncio.sleep(0.01)
    assert not taking.done()  # within the window, waiting for a second one
    inbox.put_nowait(2)
    assert await asyncio.wait_for(taking, 1.0) == [1, 2]  # full: long before the 30 s window


async def test_a_full_inbox_makes_the_putter_wait_until_a_take() -> None:
    inbox: MessageInbox[int] = MessageInbox(maxsize=2)
    inbox.put_nowait(1)
    inbox.put_nowait(2)
    waiting = asyncio.create_task(inbox.wait_for_space())
    await asyncio.sleep(0.01)
    assert inbox.full() and not waiting.done()
    assert await inbox.take(1, within=0.0) == [1]
    await asyncio.wait_for(waiting, 1.0)


async def test_clear_drops_waiting_messages_and_frees_the_putter() -> None:
    inbox: MessageInbox[int] = MessageInbox(maxsize=1)
    inbox.put_nowait(1)
    waiting = asyncio.create_task(inbox.wait_for_space())
    await asyncio.sleep(0.01)
    inbox.clear()
    await asyncio.wait_for(waiting, 1.0)
    assert len(inbox) == 0
    taking = asyncio.create_task(inbox.take(1, within=0.0))
    await asyncio.sleep(0.01)
    assert not taking.done()  # the cleared message is not delivered
    inbox.put_nowait(2)
    assert await asyncio.wait_for(taking, 1.0) == [2]


def test_a_size_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="maxsize"):
        MessageInbox(maxsize=0)
