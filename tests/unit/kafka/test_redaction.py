"""Passwords in URLs and registered secrets never reach a log line or an error."""

from __future__ import annotations

import logging

import pytest

from stream_app.kafka.redaction import install, redact, register_secret


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (
            "no broker answered at sasl_ssl://u:hunter2secret@kafka:9093",
            "no broker answered at sasl_ssl://u:***@kafka:9093",
        ),
        (
            "DNS lookup failed for u:hunter2secret@127.0.0.1:9",
            "DNS lookup failed for u:***@127.0.0.1:9",
        ),
        ("registry https://svc:p%40ss@reg.example/x", "registry https://svc:***@reg.example/x"),
        ("at 127.0.0.1:9092, 12:30 UTC", "at 127.0.0.1:9092, 12:30 UTC"),
        ("mail user@example.com", "mail user@example.com"),
    ],
)
def test_passwords_in_urls_are_masked(text: str, shown: str) -> None:
    assert redact(text) == shown


def test_registered_secrets_are_masked_anywhere() -> None:
    register_secret("Registered-Secret-42")
    register_secret("ab")  # too short to mask
    assert redact("login Registered-Secret-42 failed (ab)") == "login *** failed (ab)"


def test_every_log_record_is_redacted(caplog: pytest.LogCaptureFixture) -> None:
    install()
    install()  # idempotent
    logger = logging.getLogger("kafka.conn")
    with caplog.at_level(logging.WARNING):
        logger.warning("connecting to %s", "sasl_ssl://u:hunter2secret@kafka:9093")
        try:
            raise ValueError("bad url http://a:hunter2secret@h")
        except ValueError:
            logger.exception("failed with %d%%", 3)
    text = caplog.text
    assert "hunter2secret" not in text, text
    assert "sasl_ssl://u:***@kafka:9093" in text
    assert "failed with 3%" in text and "ValueError" in text
