"""Fields every log record of the worker carries, for JSON logs (`DECAY_LOG_FORMAT=json`).

`topic`, `partition` and `offset` come with a record that is about one message (passed as
`extra=position_fields(...)`); `model_version` is the model serving now. No field ever holds a
user id: a message is named by where it is, never by whose it is.
"""

from __future__ import annotations

import logging

#: Process-wide, like the logging configuration itself: set when a model is loaded.
CURRENT: dict[str, str] = {}


def position_fields(topic: str, partition: int, offset: int) -> dict[str, object]:
    """`extra=` of a log call about the message at topic/partition/offset."""
    return {"topic": topic, "partition": partition, "offset": offset}


def set_model_version(version: str) -> None:
    """The model version named by every later log record."""
    CURRENT["model_version"] = version


class ContextFields(logging.Filter):
    """Adds the current fields (`model_version`) to each record that does not have them."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Never drops a record."""
        for name, value in CURRENT.items():
            if not hasattr(record, name):
                setattr(record, name, value)
        return True
