"""The worker's outputs by purpose: dead letters, alerts, actions, control records, due ticks.

Each is sent through the `OutputSink` port with the input partition that caused it, and each
(but a tick) is acknowledged by the broker before the input's offset can be committed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from stream_app.events.alert import Alert
from stream_app.events.dead_letter import DeadLetter, fit_letter
from stream_app.events.envelope import cloudevent_headers, connect_error_headers
from stream_app.events.tick import Tick
from stream_app.policy.records import Action
from stream_app.schedule.due_schedule import DueEntry
from stream_app.service.ports import OutputSink, SourcePosition

log = logging.getLogger(__name__)


def never_too_large(exc: BaseException) -> bool:
    """No send is refused for its size (a sink without limits)."""
    return False


@dataclass(frozen=True)
class OutputTopics:
    """The worker's sends by purpose."""

    sink: OutputSink
    dead_letter_topic: str
    alerts_topic: str
    actions_topic: str
    ticks_topic: str
    #: Control-group records (`control: true`): never on the actions topic.
    control_actions_topic: str
    #: The most bytes a letter may take (the setting, the producer's and the topic's limit).
    dead_letter_max_bytes: int = 1024 * 1024
    #: CloudEvents `ce_source` and Kafka Connect's `connector.name` in the envelope headers.
    app_id: str = "decay-stream"
    #: True for a send refused for its size (the adapter knows its client's errors).
    too_large: Callable[[BaseException], bool] = never_too_large

    async def dead_letter(self, letter: DeadLetter) -> None:
        """A refused event, with its original bytes (or a prefix) and the reason in headers.

        A letter too large for the limits is cut to fit them (`fit_letter`); should the
        producer or the broker still refuse its size, it goes again with headers only, so a
        refused message never stops its partition.
        """
        try:
            await self._send_letter(fit_letter(letter, self.dead_letter_max_bytes))
        except Exception as exc:
            if not self.too_large(exc):
                raise
            log.warning(
                "dead letter of %s[%d]@%d refused for its size; sent again without its bytes",
                letter.source_topic,
                letter.source_partition,
                letter.source_offset,
            )
            await self._send_letter(fit_letter(letter, 0))

    async def _send_letter(self, letter: DeadLetter) -> None:
        sent = await self.sink.send(
            self.dead_letter_topic,
            letter.key,
            letter.value,
            partition=None,
            source=(letter.source_topic, letter.source_partition),
            headers=letter.headers() + connect_error_headers(letter, self.app_id),
        )
        await sent

    async def alert(self, alert: Alert, source: SourcePosition) -> None:
        """An alert, keyed by its user."""
        headers = cloudevent_headers(
            record="alert", schema_version=alert.schema_version, event_id=alert.alert_id,
            time=alert.emitted_at, app_id=self.app_id,
        )  # fmt: skip
        await self._for_user(self.alerts_topic, alert.user_id, alert.to_json(), headers, source)

    async def action(self, action: Action, source: SourcePosition) -> None:
        """An action, keyed by its user; a control-group record to the control topic instead."""
        headers = cloudevent_headers(
            record="action", schema_version=action.schema_version, event_id=action.action_id,
            time=action.emitted_at, app_id=self.app_id, control=action.control,
        )  # fmt: skip
        topic = self.control_actions_topic if action.control else self.actions_topic
        await self._for_user(topic, action.user_id, action.to_json(), headers, source)

    async def tick(self, entry: DueEntry, tick: Tick) -> None:
        """A due tick (not awaited: a tick lost in a crash is sent again by the rebuilt schedule)."""
        await self.sink.send(
            self.ticks_topic, entry.user_key, tick.to_json(), partition=entry.partition, source=None
        )

    async def _for_user(
        self,
        topic: str,
        user_id: str,
        value: bytes,
        headers: list[tuple[str, bytes]],
        source: SourcePosition,
    ) -> None:
        """Keyed by the user; in the transaction of the input partition that caused it."""
        sent = await self.sink.send(
            topic,
            user_id.encode("utf-8"),
            value,
            partition=None,
            source=(source.topic, source.partition),
            headers=headers,
        )
        await sent
