"""Logging set-up shared by every command."""

from __future__ import annotations

import logging

from stream_app.kafka import outage


def configure_logging(level: str) -> None:
    """Plain log lines; client libraries only at WARNING, one line per broker outage."""
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("kafka", "aiokafka"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    outage.install()
