"""The events' batch task: a batch is acknowledged once its changelog is, while the next one
is applied, and a failed changelog acknowledgement stops the task."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from stream_app.runtime.inbox import MessageInbox
from stream_app.runtime.tasks import next_batch, process_events


class ChangelogAcks:
    """A table whose changelog acknowledgements the test resolves by hand, one batch each."""

    def __init__(self, log: list[str]) -> None:
        self.log = log
        self.batches: list[asyncio.Future[None]] = []

    async def send(self) -> None:
        self.batches.append(asyncio.get_running_loop().create_future())

    def take_in_flight(self) -> list[Any]:
        return [self.batches[-1]]

    async def persisted(self, acks: list[Any]) -> None:
        for ack in acks:
            await ack


def worker(log: list[str]) -> Any:
    table = ChangelogAcks(log)

    async def handle_batch(batch: list[int]) -> None:
        log.append(f"applied {batch}")

    async def admit(messages: list[int]) -> list[int]:
        return messages

    async def recovered() -> None:
        return None

    return SimpleNamespace(
        settings=SimpleNamespace(
            events_topic="events", batch_max_events=2, batch_window_seconds=0.001
        ),
        inbox=MessageInbox[int](maxsize=10),
        until_recovered=recovered,
        ordering=SimpleNamespace(admit=admit),
        state_lock=asyncio.Lock(),
        pipeline=SimpleNamespace(handle_batch=handle_batch),
        table=table,
        consumer=SimpleNamespace(acknowledge=lambda messages: log.append(f"acked {messages}")),
    )


async def until(condition: Any) -> None:
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition not reached")


async def test_the_next_batch_is_applied_while_the_last_one_waits_for_its_changelog() -> None:
    log: list[str] = []
    ctx = worker(log)
    task = asyncio.ensure_future(process_events(ctx))
    for message in (1, 2):
        ctx.inbox.put_nowait(message)
    await until(lambda: log == ["applied [1, 2]"])
    for message in (3, 4):
        ctx.inbox.put_nowait(message)
    await until(lambda: len(log) == 2)
    assert log == ["applied [1, 2]", "applied [3, 4]"]  # not acknowledged: changelog pending
    ctx.table.batches[0].set_result(None)
    await until(lambda: len(log) == 3)
    assert log[-1] == "acked [1, 2]"
    ctx.table.batches[1].set_result(None)
    await until(lambda: len(log) == 4)
    assert log[-1] == "acked [3, 4]"
    task.cancel()


async def test_a_failed_changelog_stops_the_task_even_with_nothing_to_take() -> None:
    log: list[str] = []
    ctx = worker(log)
    task = asyncio.ensure_future(process_events(ctx))
    ctx.inbox.put_nowait(1)
    await until(lambda: len(ctx.table.batches) == 1)
    ctx.table.batches[0].set_exception(RuntimeError("changelog lost"))
    with pytest.raises(RuntimeError, match="changelog lost"):
        await asyncio.wait_for(task, 5)
    assert log == ["applied [1]"]  # never acknowledged


async def test_next_batch_leaves_the_inbox_as_it_was_when_it_raises() -> None:
    inbox = MessageInbox[int](maxsize=10)
    ctx: Any = SimpleNamespace(
        inbox=inbox, settings=SimpleNamespace(batch_max_events=5, batch_window_seconds=0.001)
    )

    async def failed() -> None:
        raise RuntimeError("changelog lost")

    persisting = asyncio.ensure_future(failed())
    with pytest.raises(RuntimeError):
        await next_batch(ctx, persisting)
    inbox.put_nowait(7)
    ok = asyncio.ensure_future(asyncio.sleep(0))
    assert await next_batch(ctx, ok) == [7]
