"""One redaction for every line the package writes: passwords in URLs and known secrets.

A broker address or a registry URL may carry `user:password@`; kafka-python, urllib and our own
messages would echo it. `redact` masks the password part of any `user:password@` and every
secret registered with `register_secret` (the settings' `SecretStr` values). The log record
factory installed by `install` applies it to every log record (message and traceback) of every
logger, whichever handler writes it; the CLI applies it to its `error:` lines.
"""

from __future__ import annotations

import logging
import re
import threading
import traceback
from typing import Any

MASK = "***"
#: `user:password@` in a URL or an address (`sasl_ssl://u:pw@host:9093`, `https://u:pw@reg`).
_USERINFO = re.compile(r"(?P<user>[^\s:/@'\"<>\[\](),;=]+):(?P<password>[^\s/@'\"<>]+)@")
_MIN_SECRET_CHARS = 3
_secrets: set[str] = set()
_lock = threading.Lock()
_installed = False


def register_secret(value: str | None) -> None:
    """Mask `value` wherever it appears from now on (too short a value would mask noise)."""
    if value and len(value) >= _MIN_SECRET_CHARS:
        with _lock:
            _secrets.add(value)


def redact(text: str) -> str:
    """`text` without the password of any `user:password@` and without registered secrets."""
    text = _USERINFO.sub(lambda m: f"{m['user']}:{MASK}@", text)
    for secret in sorted(_secrets, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


def redact_url(url: str) -> str:
    """A URL as it may be shown: its password masked."""
    return redact(url)


def install() -> None:
    """Redact every log record from now on, for every logger and handler (idempotent)."""
    global _installed
    with _lock:
        if _installed:
            return
        _installed = True
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        return redacted_record(record)

    logging.setLogRecordFactory(factory)


def redacted_record(record: logging.LogRecord) -> logging.LogRecord:
    """The record with its message (arguments applied) and its traceback text redacted."""
    try:
        message = record.getMessage()
    except Exception:  # a bad format string: let the handler report it as usual
        return record
    record.msg, record.args = redact(message), ()
    if record.exc_info and record.exc_info[1] is not None and not record.exc_text:
        record.exc_text = redact("".join(traceback.format_exception(*record.exc_info)).rstrip())
    return record
