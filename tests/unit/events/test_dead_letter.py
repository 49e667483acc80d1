"""Dead letters cut to fit the topic's limit keep a prefix, the size and the SHA-256."""

from __future__ import annotations

import hashlib

from stream_app.events.dead_letter import DeadLetter, fit_letter, parse_dead_letter_headers


def letter(key: bytes | None, value: bytes | None) -> DeadLetter:
    return DeadLetter(key, value, "payload_too_large", "5000000 bytes > 65536", "t", 3, 42, 1.0)


def test_a_letter_that_fits_is_unchanged() -> None:
    small = letter(b"u", b"{}")
    assert fit_letter(small, 64 * 1024) is small
    assert "dlq.truncated" not in parse_dead_letter_headers(small.headers())


def test_a_large_value_is_cut_to_a_prefix_with_its_size_and_hash() -> None:
    value = bytes(range(256)) * 20_000
    fitted = fit_letter(letter(b"u", value), 100_000)
    headers = parse_dead_letter_headers(fitted.headers())
    assert fitted.size_bytes() <= 100_000
    assert fitted.value is not None and value.startswith(fitted.value)
    assert len(fitted.value) > 90_000
    assert fitted.key == b"u"
    assert headers["dlq.truncated"] == "value"
    assert headers["dlq.original.value_bytes"] == str(len(value))
    assert headers["dlq.original.value_sha256"] == hashlib.sha256(value).hexdigest()
    assert headers["dlq.reason"] == "payload_too_large"


def test_a_large_key_is_cut_after_the_value() -> None:
    key, value = b"k" * 500_000, b"v" * 500_000
    fitted = fit_letter(letter(key, value), 100_000)
    headers = parse_dead_letter_headers(fitted.headers())
    assert fitted.size_bytes() <= 100_000
    assert (fitted.value, headers["dlq.truncated"]) == (b"", "value,key")
    assert fitted.key is not None and key.startswith(fitted.key)
    assert headers["dlq.original.key_sha256"] == hashlib.sha256(key).hexdigest()


def test_a_zero_budget_leaves_headers_only() -> None:
    fitted = fit_letter(letter(b"k" * 10, b"v" * 10), 0)
    assert (fitted.key, fitted.value) == (b"", b"")
    assert parse_dead_letter_headers(fitted.headers())["dlq.original.value_bytes"] == "10"
