"""Envelope headers that integrators' tooling reads, beside our own; payloads are unchanged.

- Alerts and actions carry CloudEvents 1.0 attributes in Kafka binary content mode
  (`ce_*` headers and `content-type`; the message value is the event data): a CloudEvents SDK
  reads them as events without knowing our schemas, and routes on `ce_type`.
- Dead letters carry Kafka Connect's dead-letter context headers (`__connect.errors.*`, as a
  sink connector writes them with `errors.deadletterqueue.context.headers.enable=true`) beside
  the `dlq.*` ones, so the tools that replay or inspect Connect dead-letter queues understand
  ours.

No header carries a user id: the user is the message key.
"""

from __future__ import annotations

from stream_app.events.dead_letter import DeadLetter

CLOUDEVENTS_SPEC_VERSION = "1.0"
SCHEMA_BASE_URL = "https://decay-stream.dev/schemas"
#: `ce_type` per output record kind (reverse-DNS, versioned like the schema).
EVENT_TYPE_PREFIX = "dev.decay-stream"
PROCESSING_ERROR = "processing_error"


def cloudevent_headers(
    *,
    record: str,
    schema_version: int,
    event_id: str,
    time: str,
    app_id: str,
    control: bool = False,
) -> list[tuple[str, bytes]]:
    """CloudEvents binary-mode headers of one alert or action (`record`: alert | action).

    `ce_id` is the record's deterministic id: a redelivery has the same source and id, which
    CloudEvents consumers treat as a duplicate. A control-group record has its own `ce_type`
    (`….action.control.v1`), the same schema: routing on the type never acts on it.
    """
    kind = f"{record}.control" if control else record
    attributes = {
        "ce_specversion": CLOUDEVENTS_SPEC_VERSION,
        "ce_id": event_id,
        "ce_source": f"/decay-stream/{app_id}",
        "ce_type": f"{EVENT_TYPE_PREFIX}.{kind}.v{schema_version}",
        "ce_time": time,
        "ce_dataschema": f"{SCHEMA_BASE_URL}/{record}.v{schema_version}.json",
        "content-type": "application/json",
    }
    return [(name, value.encode("utf-8")) for name, value in attributes.items()]


def connect_error_headers(letter: DeadLetter, app_id: str) -> list[tuple[str, bytes]]:
    """Kafka Connect's dead-letter context headers for one refused message.

    A refusal by validation is a conversion failure of the record (stage `VALUE_CONVERTER`);
    an unexpected error while applying a valid event is stage `TASK_PUT`. The exception class
    is ours (`stream_app.events.decode.Rejected`) or, for a processing error, the name of the
    exception the worker caught; its stack trace is in the worker's log.
    """
    failed = letter.reason == PROCESSING_ERROR
    context = {
        "__connect.errors.topic": letter.source_topic,
        "__connect.errors.partition": str(letter.source_partition),
        "__connect.errors.offset": str(letter.source_offset),
        "__connect.errors.connector.name": app_id,
        "__connect.errors.task.id": str(letter.source_partition),
        "__connect.errors.stage": "TASK_PUT" if failed else "VALUE_CONVERTER",
        "__connect.errors.class.name": "stream_app.worker.pipeline.EventPipeline",
        "__connect.errors.exception.class.name": (
            letter.detail if failed else "stream_app.events.decode.Rejected"
        ),
        "__connect.errors.exception.message": f"{letter.reason}: {letter.detail}",
    }
    return [(name, value.encode("utf-8", "replace")) for name, value in context.items()]
