"""Dataset → `EventLog` (numpy columns) for training and `score`, built from the event readers.

There is one reader per source (`stream_app.data.sources`: one function turns a source row into
a canonical `Event`); this module only turns those events into columns. Training, `score`,
replay, the demo and the bench therefore see the same events: a cancellation is a `cancel`
event with a positive `price` (the refunded amount) everywhere, and `spend_delta` subtracts it.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from stream_app.data.sources import (
    open_csv,
    read_by_header,
    read_canonical,
    read_online_retail,
    read_taobao,
    read_tmall,
)
from stream_app.events.schema import Event
from stream_app.model.eventlog import EventLog, from_rows

__all__ = ["FORMATS", "log_from_events", "read_log"]

#: `--format` values: `auto` picks the reader from the CSV header.
FORMATS = ("auto", "canonical", "online-retail", "taobao", "tmall")


def log_from_events(events: Iterable[Event]) -> EventLog:
    """Columns of canonical events, sorted by (user, time) with ties in event order."""
    return from_rows(
        [(e.user_id, e.ts_seconds, e.type, e.item_id, e.category_id, e.price) for e in events]
    )


def read_log(path: Path, fmt: str = "auto") -> EventLog:
    """An event log in one of `FORMATS` (Parquet: canonical schema)."""
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq  # only needed for Parquet

        return log_from_events(read_canonical(pq.read_table(path).to_pylist()))
    rows = open_csv(path)
    readers = {
        "auto": read_by_header,
        "canonical": read_canonical,
        "online-retail": read_online_retail,
        "taobao": read_taobao,
        "tmall": read_tmall,
    }
    if fmt not in readers:
        raise ValueError(f"unknown format {fmt!r}; one of {FORMATS}")
    return log_from_events(readers[fmt](rows))
