"""Logging set-up shared by every command and the worker (`DECAY_LOG_FORMAT`: text or json)."""

from __future__ import annotations

import logging
import logging.config
from typing import Any

from stream_app.kafka import outage

#: Client libraries log every retry during a broker outage: WARNING and above only.
NOISY_LOGGERS = ("kafka", "aiokafka")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
#: JSON fields of every line; `topic`, `partition`, `offset` and `model_version` join when known.
JSON_FORMAT = "%(levelname)s %(name)s %(process)d %(message)s"


def logging_config(level: str, log_format: str = "text") -> dict[str, Any]:
    """A `logging.config.dictConfig` configuration: one line per record on stderr."""
    formatter: dict[str, Any] = {"format": TEXT_FORMAT}
    if log_format == "json":
        formatter = {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": JSON_FORMAT,
            "rename_fields": {"levelname": "level", "name": "logger"},
            "timestamp": True,  # `timestamp`: ISO-8601 in UTC
        }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": formatter},
        "filters": {"context": {"()": "stream_app.worker.log_fields.ContextFields"}},
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "default",
                "filters": ["context"],
            }
        },
        "root": {"level": level, "handlers": ["default"]},
        "loggers": {name: {"level": "WARNING"} for name in NOISY_LOGGERS},
    }


def configure_logging(level: str, log_format: str = "text") -> None:
    """Plain or JSON log lines; client libraries only at WARNING, one line per broker outage."""
    logging.config.dictConfig(logging_config(level, log_format))
    outage.install()
