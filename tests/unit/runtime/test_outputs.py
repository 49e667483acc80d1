"""A dead letter refused for its size is sent again with headers only: the partition goes on."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka.errors import MessageSizeTooLargeError
from faust.exceptions import ProducerSendError

from stream_app.events.dead_letter import DeadLetter
from stream_app.runtime.outputs import too_large
from stream_app.worker.outputs import OutputTopics


class SizeLimitedOutputs:
    """Refuses any message whose value is larger than `limit` bytes, as Faust wraps it."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.sent: list[tuple[bytes | None, bytes | None, dict[str, bytes]]] = []

    async def send(self, topic: str, key: bytes | None, value: bytes | None, **kw: Any) -> Any:
        if len(value or b"") > self.limit:
            try:
                raise MessageSizeTooLargeError("too large")
            except MessageSizeTooLargeError as exc:
                raise ProducerSendError("Error while sending") from exc
        self.sent.append((key, value, dict(kw["headers"])))
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


def topics(outputs: SizeLimitedOutputs, max_bytes: int) -> OutputTopics:
    return OutputTopics(
        outputs,
        "dlq",
        "a",
        "b",
        "t",
        "c",
        dead_letter_max_bytes=max_bytes,
        too_large=too_large,  # type: ignore[arg-type]
    )


def letter(value: bytes) -> DeadLetter:
    return DeadLetter(b"k", value, "payload_too_large", "big", "events", 1, 7, 1.0)


def test_a_letter_over_the_limit_is_cut_before_it_is_sent() -> None:
    outputs = SizeLimitedOutputs(limit=10**9)
    asyncio.run(topics(outputs, 50_000).dead_letter(letter(b"x" * 200_000)))
    ((_, value, headers),) = outputs.sent
    assert value is not None and 40_000 < len(value) < 50_000
    assert headers["dlq.original.value_bytes"] == b"200000"


def test_a_letter_the_producer_still_refuses_goes_with_headers_only() -> None:
    outputs = SizeLimitedOutputs(limit=1_000)  # a producer stricter than the configured limit
    asyncio.run(topics(outputs, 50_000).dead_letter(letter(b"x" * 200_000)))
    ((key, value, headers),) = outputs.sent
    assert (key, value) == (b"", b"")
    assert headers["dlq.truncated"] == b"value,key"
    assert headers["dlq.source.offset"] == b"7"


def test_other_send_errors_are_not_swallowed() -> None:
    class Broken(SizeLimitedOutputs):
        async def send(self, *args: Any, **kw: Any) -> Any:
            raise ProducerSendError("broker gone")

    with pytest.raises(ProducerSendError):
        asyncio.run(topics(Broken(0), 50_000).dead_letter(letter(b"x")))
