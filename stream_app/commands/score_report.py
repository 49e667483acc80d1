"""What `score` writes: per user p_return beside recency, frequency and monetary value, and the
cutoff, horizon and model version that produced it, as CSV or JSON lines."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import TextIO

import numpy as np

from stream_app.events.schema import EVENT_TYPES, EventType
from stream_app.model.eventlog import EventLog
from stream_app.model.features import spend_deltas
from stream_app.model.scoring import Scores

#: Event types of a clickstream (browsing) log, as opposed to an order log.
BROWSING_TYPES = (EventType.VIEW, EventType.CLICK, EventType.CART, EventType.FAV)
#: A log is a clickstream when at least this share of its events are browsing events.
CLICKSTREAM_SHARE = 0.5


@dataclass(frozen=True, slots=True)
class ScoreRow:
    """One user's score and the facts an analyst reads it against."""

    user_id: str
    p_return: float
    recency_days: float
    frequency: int
    purchases: int
    monetary: float
    cutoff: str
    horizon_days: float
    model_version: str


def browsing_share(log_: EventLog) -> float:
    """Share of the log's events that are views, clicks, carts or favourites."""
    if len(log_) == 0:
        return 0.0
    browsing = [EVENT_TYPES.index(t) for t in BROWSING_TYPES]
    return float(np.isin(log_.event_type, browsing).mean())


def score_rows(
    scores: Scores, before: EventLog, cutoff_iso: str, horizon_days: float, model_version: str
) -> Iterator[ScoreRow]:
    """Rows in user order; `before` is the log before the cutoff, sorted (as `score` sorts it)."""
    users, starts = before.user_bounds()
    assert list(users) == list(scores.user_id)
    purchase = EVENT_TYPES.index(EventType.PURCHASE)
    spend = np.add.reduceat(spend_deltas(before.event_type, before.price), starts[:-1])
    bought = np.add.reduceat(before.event_type == purchase, starts[:-1])
    for i in np.argsort(users.astype(str), kind="stable"):
        yield ScoreRow(
            user_id=str(users[i]),
            p_return=round(float(scores.p_return[i]), 6),
            recency_days=round(float(scores.tau_days[i]), 4),
            frequency=int(starts[i + 1] - starts[i]),
            purchases=int(bought[i]),
            monetary=round(float(spend[i]), 2),
            cutoff=cutoff_iso,
            horizon_days=horizon_days,
            model_version=model_version,
        )


def write_csv(rows: Iterator[ScoreRow], out: TextIO) -> int:
    """CSV with a header; the number of rows written."""
    writer = csv.writer(out)
    writer.writerow(ScoreRow.__slots__)
    count = 0
    for row in rows:
        writer.writerow(asdict(row).values())
        count += 1
    return count


def write_json_lines(rows: Iterator[ScoreRow], out: TextIO) -> int:
    """One JSON object per user and line; the number of rows written."""
    count = 0
    for row in rows:
        out.write(json.dumps(asdict(row)) + "\n")
        count += 1
    return count
