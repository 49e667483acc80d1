"""What the worker writes to Kafka: the user-state table's changelog and the output topics."""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import faust
from aiokafka.errors import MessageSizeTooLargeError, RecordTooLargeError
from faust.transport.consumer import TopicPartitionGroup, TransactionManager

from stream_app.events.alert import Alert
from stream_app.events.dead_letter import DeadLetter, fit_letter
from stream_app.events.envelope import cloudevent_headers, connect_error_headers
from stream_app.events.partitioning import partition_for_key
from stream_app.events.tick import Tick
from stream_app.policy.records import Action
from stream_app.runtime.faust_consumer import store_put
from stream_app.schedule.due_schedule import DueEntry

log = logging.getLogger(__name__)

#: The input topic of the batch task or agent running in this asyncio task (each is its own).
SOURCE_TOPIC: ContextVar[str | None] = ContextVar("SOURCE_TOPIC", default=None)


class Outputs:
    """Sends an output message; the caller awaits the broker's acknowledgement it returns.

    Messages go to Faust's producer directly, not through `Topic.send`: its per-message
    bookkeeping (a future message, its callbacks, the monitor's sensors) made the worker ~1.5x
    slower (bench/NOTES.md), and it could attach a send to the current event's commit, which
    awaiting here would deadlock on.
    At least once: a plain send. Exactly once: a message caused by an input partition joins
    that partition's transaction, which Faust commits together with the partition's offsets
    (Faust itself would pick the transaction from the output topic, which it does not consume);
    a message without a source partition (a tick from the schedule timer) is sent outside any
    transaction, so that it is readable at once.
    """

    def __init__(self, app: faust.App, exactly_once: bool) -> None:
        self.app = app
        self.exactly_once = exactly_once

    def transactional_id(self, source_partition: int | None) -> str | None:
        """Faust's transactional id of the source partition's transaction (exactly once)."""
        source_topic = SOURCE_TOPIC.get()
        if not self.exactly_once or source_topic is None or source_partition is None:
            return None
        app: Any = self.app
        group = TopicPartitionGroup(
            source_topic, source_partition, app.assignor.group_for_topic(source_topic)
        )
        name: str = TransactionManager.transactional_id_format.format(
            group_id=app.conf.id, tpg=group
        )
        return name

    async def send(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        *,
        partition: int | None,
        source_partition: int | None,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> Awaitable[Any]:
        """Send; returns the acknowledgement to await."""
        app: Any = self.app
        sent: Awaitable[Any] = await app.producer.send(
            topic,
            key,
            value,
            partition,
            None,
            headers,
            transactional_id=self.transactional_id(source_partition),
        )
        return sent


class DurableTable:
    """The user-state table, with changelog writes that are awaited, not buffered.

    Faust's own table write queues the changelog message in a buffer that its pre-commit flush
    can leave behind (a message taken off the queue but not yet handed to the Kafka client); a
    crash then loses a state change whose input offset is already committed. Here every write
    updates the local store and sends its changelog message directly; `flush()` waits for the
    broker's acknowledgements before the batch's offsets are acknowledged. `send()` starts
    sending earlier, so the broker acknowledges while the worker computes (the due times).
    """

    def __init__(self, table: Any, partitions: int, outputs: Outputs) -> None:
        self.table = table
        self.partitions = partitions
        self.outputs = outputs
        self._pending: list[tuple[bytes, bytes]] = []
        self._in_flight: list[Awaitable[Any]] = []

    def get(self, key: bytes) -> bytes | None:
        """Stored value or None."""
        value = self.table.data.get(key)
        return value if value is None else bytes(value)

    def __setitem__(self, key: bytes, value: bytes) -> None:
        store_put(self.table.data, key, value, partition_for_key(key, self.partitions))
        self._pending.append((key, value))

    def __len__(self) -> int:
        return len(self.table.data)

    def items(self) -> list[tuple[bytes, bytes]]:
        """Every key and value of the local store."""
        return list(self.table.data.items())

    async def send(self) -> None:
        """Send the changelog of every write not sent yet; `flush` waits for the acks."""
        pending, self._pending = self._pending, []
        topic = self.table.changelog_topic.get_topic_name()
        for key, value in pending:
            partition = partition_for_key(key, self.partitions)
            self._in_flight.append(
                await self.outputs.send(
                    topic, key, value, partition=partition, source_partition=partition
                )
            )

    def take_in_flight(self) -> list[Awaitable[Any]]:
        """The acknowledgements of every changelog message sent and not awaited yet."""
        in_flight, self._in_flight = self._in_flight, []
        return in_flight

    async def persisted(self, acks: list[Awaitable[Any]]) -> None:
        """Wait for acknowledgements taken with `take_in_flight`, in the order sent."""
        for ack in acks:
            self._persisted(await ack)

    async def flush(self) -> None:
        """Send the changelog of every write not sent yet and wait for the acks of all sent."""
        await self.send()
        await self.persisted(self.take_in_flight())

    def _persisted(self, sent: Any) -> None:
        """Remember the changelog offset the local store holds (RocksDB keeps it on disk), so a
        restart on the same volume reads only the changelog written after it, as Faust's own
        table writes do; with exactly-once it is kept when the transaction commits."""
        tp = getattr(sent, "topic_partition", None)
        if tp is None:
            return
        if self.outputs.exactly_once:
            self.outputs.app.tables.persist_offset_on_commit(self.table.data, tp, sent.offset)
        else:
            self.table.data.set_persisted_offset(tp, sent.offset)


SIZE_ERRORS = (MessageSizeTooLargeError, RecordTooLargeError)


def too_large(exc: BaseException) -> bool:
    """True for a send refused for its size (by aiokafka, or as Faust's wrapped error)."""
    return isinstance(exc, SIZE_ERRORS) or isinstance(exc.__cause__, SIZE_ERRORS)


@dataclass(frozen=True)
class OutputTopics:
    """The worker's sends by purpose; each output is acknowledged before its input's offset."""

    outputs: Outputs
    partitions: int
    dead_letter_topic: str
    alerts_topic: str
    actions_topic: str
    ticks_topic: str
    #: The most bytes a letter may take (the setting, the producer's and the topic's limit).
    dead_letter_max_bytes: int = 1024 * 1024
    #: CloudEvents `ce_source` and Kafka Connect's `connector.name` in the envelope headers.
    app_id: str = "decay-stream"

    async def dead_letter(self, letter: DeadLetter) -> None:
        """A refused event, with its original bytes (or a prefix) and the reason in headers.

        A letter too large for the limits is cut to fit them (`fit_letter`); should the
        producer or the broker still refuse its size, it goes again with headers only, so a
        refused message never stops its partition.
        """
        try:
            await self._send_letter(fit_letter(letter, self.dead_letter_max_bytes))
        except Exception as exc:
            if not too_large(exc):
                raise
            log.warning(
                "dead letter of %s[%d]@%d refused for its size; sent again without its bytes",
                letter.source_topic,
                letter.source_partition,
                letter.source_offset,
            )
            await self._send_letter(fit_letter(letter, 0))

    async def _send_letter(self, letter: DeadLetter) -> None:
        sent = await self.outputs.send(
            self.dead_letter_topic,
            letter.key,
            letter.value,
            partition=None,
            source_partition=letter.source_partition,
            headers=letter.headers() + connect_error_headers(letter, self.app_id),
        )
        await sent

    async def alert(self, alert: Alert) -> None:
        """An alert, keyed by its user."""
        headers = cloudevent_headers(
            record="alert", schema_version=alert.schema_version, event_id=alert.alert_id,
            time=alert.emitted_at, app_id=self.app_id,
        )  # fmt: skip
        await self._for_user(self.alerts_topic, alert.user_id, alert.to_json(), headers)

    async def action(self, action: Action) -> None:
        """An action, keyed by its user."""
        headers = cloudevent_headers(
            record="action", schema_version=action.schema_version, event_id=action.action_id,
            time=action.emitted_at, app_id=self.app_id,
        )  # fmt: skip
        await self._for_user(self.actions_topic, action.user_id, action.to_json(), headers)

    async def tick(self, entry: DueEntry, tick: Tick) -> None:
        """A due tick (not awaited: a tick lost in a crash is sent again by the rebuilt schedule)."""
        await self.outputs.send(
            self.ticks_topic,
            entry.user_key,
            tick.to_json(),
            partition=entry.partition,
            source_partition=None,
        )

    async def _for_user(
        self, topic: str, user_id: str, value: bytes, headers: list[tuple[str, bytes]]
    ) -> None:
        """Keyed by the user; in the transaction of the user's input partition."""
        key = user_id.encode("utf-8")
        source = partition_for_key(key, self.partitions)
        sent = await self.outputs.send(
            topic, key, value, partition=None, source_partition=source, headers=headers
        )
        await sent
