"""Envelope headers: CloudEvents binary mode read back by the CloudEvents SDK's Kafka binding,
and Kafka Connect's dead-letter context headers beside ours."""

from __future__ import annotations

import json

from cloudevents.v1.kafka import KafkaMessage, from_binary

from stream_app.events.alert import Alert, alert_id
from stream_app.events.dead_letter import DeadLetter
from stream_app.events.envelope import cloudevent_headers, connect_error_headers


def alert() -> Alert:
    return Alert(
        alert_id("u1", "warning", 1.0), "u1", "warning", 0.3, 30.0, 86400.0,
        "2011-01-01T00:00:00.000Z", ["HOLDER"], "1.0", "2011-01-02T00:00:00.000Z",
    )  # fmt: skip


def test_alert_headers_are_a_cloudevent_in_binary_mode() -> None:
    record = alert()
    headers = cloudevent_headers(
        record="alert", schema_version=record.schema_version, event_id=record.alert_id,
        time=record.emitted_at, app_id="decay-stream",
    )  # fmt: skip
    message = KafkaMessage(headers=dict(headers), key=b"u1", value=record.to_json())

    event = from_binary(message, data_unmarshaller=json.loads)

    assert event["specversion"] == "1.0"
    assert event["id"] == record.alert_id
    assert event["source"] == "/decay-stream/decay-stream"
    assert event["type"] == f"dev.decay-stream.alert.v{record.schema_version}"
    assert event["dataschema"] == (
        f"https://decay-stream.dev/schemas/alert.v{record.schema_version}.json"
    )
    assert event["datacontenttype"] == "application/json"
    assert event["time"] == record.emitted_at
    assert event.data == json.loads(record.to_json())  # the payload is unchanged
    assert all(b"u1" not in value for _, value in headers)  # no user id in a header


def letter(reason: str, detail: str) -> DeadLetter:
    return DeadLetter(b"k", b"{bad", reason, detail, "decay.events", 3, 41, 1.7e9)


def test_dead_letters_carry_connect_context_headers_beside_ours() -> None:
    refused = letter("invalid_json", "Expecting value: line 1 column 2")
    headers = dict(refused.headers() + connect_error_headers(refused, "my-app"))

    assert headers["dlq.reason"] == b"invalid_json"  # ours are kept
    assert headers["__connect.errors.topic"] == b"decay.events"
    assert headers["__connect.errors.partition"] == b"3"
    assert headers["__connect.errors.offset"] == b"41"
    assert headers["__connect.errors.connector.name"] == b"my-app"
    assert headers["__connect.errors.stage"] == b"VALUE_CONVERTER"
    assert headers["__connect.errors.exception.class.name"] == b"stream_app.events.decode.Rejected"
    assert headers["__connect.errors.exception.message"] == (
        b"invalid_json: Expecting value: line 1 column 2"
    )


def test_a_processing_error_is_a_task_failure_named_by_its_exception() -> None:
    headers = dict(connect_error_headers(letter("processing_error", "ZeroDivisionError"), "a"))
    assert headers["__connect.errors.stage"] == b"TASK_PUT"
    assert headers["__connect.errors.exception.class.name"] == b"ZeroDivisionError"
