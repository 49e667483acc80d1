"""Adapters from the shared public datasets to canonical `Event`s, streamed in time order.

Each reader yields events sorted by event time (ties keep file order). Event types map onto the
one vocabulary: Taobao pv/cart/fav/buy → view/cart/fav/purchase; Tmall 0/1/2/3 →
click/cart/purchase/fav; Online Retail invoices → purchase, `C` invoices → cancel.
"""

from __future__ import annotations

import csv
import io
import lzma
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from stream_app.data.retail_words import retail_category
from stream_app.events.schema import Event, EventType, utc_from_seconds
from stream_app.paths import SHARED_DATA_DIR

LONDON = ZoneInfo("Europe/London")
_CANONICAL = "user_id, ts, type, item_id, category_id, price, event_id"
BEIJING = ZoneInfo("Asia/Shanghai")

_TAOBAO_TYPES = {
    "pv": EventType.VIEW,
    "cart": EventType.CART,
    "fav": EventType.FAV,
    "buy": EventType.PURCHASE,
}
_TMALL_TYPES = {
    "0": EventType.CLICK,
    "1": EventType.CART,
    "2": EventType.PURCHASE,
    "3": EventType.FAV,
}
#: Taobao UserBehavior's documented window, 2017-11-25 .. 2017-12-03 Beijing time: rows outside
#: it (35 in the 814-user file) carry corrupt timestamps and are dropped by every reader.
TAOBAO_WINDOW = (
    datetime(2017, 11, 25, tzinfo=BEIJING).timestamp(),
    datetime(2017, 12, 4, tzinfo=BEIJING).timestamp(),
)


@dataclass(frozen=True)
class Dataset:
    """A named source: its file (relative to the shared data folder) and its reader."""

    name: str
    relative_path: str
    read: Callable[[Iterable[dict[str, str]]], Iterator[Event]]
    description: str


def open_csv(path: Path) -> Iterator[dict[str, str]]:
    """Rows of a CSV file, `.xz`-compressed or plain."""
    raw = lzma.open(path, "rb") if path.suffix == ".xz" else path.open("rb")  # noqa: SIM115
    with raw, io.TextIOWrapper(raw, encoding="utf-8", newline="") as text:
        yield from csv.DictReader(text)


def read_taobao(
    rows: Iterable[dict[str, str]], *, window: tuple[float, float] | None = TAOBAO_WINDOW
) -> Iterator[Event]:
    """Taobao UserBehavior rows → events (sorted by time; rows outside `window` dropped)."""
    events = []
    for line, row in enumerate(rows, start=2):
        ts = float(row["timestamp"])
        if window is not None and not window[0] <= ts < window[1]:
            continue
        events.append(
            Event(
                user_id=row["user_id"],
                ts=utc_from_seconds(ts),
                type=_TAOBAO_TYPES[row["behavior_type"]],
                item_id=row["item_id"],
                category_id=row["category_id"],
                event_id=f"taobao-{line}",
            )
        )
    yield from sorted(events, key=lambda event: event.ts)


def read_tmall(rows: Iterable[dict[str, str]]) -> Iterator[Event]:
    """Tmall user_log rows (mmdd in 2015, Beijing days) → events sorted by day."""
    events = []
    for line, row in enumerate(rows, start=2):
        stamp = row["time_stamp"].zfill(4)
        day = datetime(2015, int(stamp[:2]), int(stamp[2:]), tzinfo=BEIJING)
        events.append(
            Event(
                user_id=row["user_id"],
                ts=utc_from_seconds(day.timestamp()),
                type=_TMALL_TYPES[row["action_type"]],
                item_id=row["item_id"],
                category_id=row["cat_id"],
                event_id=f"tmall-{line}",
            )
        )
    yield from sorted(events, key=lambda event: event.ts)


def read_online_retail(rows: Iterable[dict[str, str]]) -> Iterator[Event]:
    """Online Retail lines → one event per invoice (rows without CustomerID dropped).

    The one Online Retail reader (training builds its columns from these events too): the item
    is the invoice's largest line, the category the most frequent product-type word of its
    descriptions, the price the invoice total, positive also for a cancellation (its type says it
    is a refund, and `spend_delta` subtracts it).
    """
    invoices: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        if row["CustomerID"].strip():
            invoices.setdefault(row["InvoiceNo"], []).append(row)
    events = [_invoice_event(number, lines) for number, lines in invoices.items()]
    yield from sorted(events, key=lambda event: event.ts)


def _invoice_event(number: str, lines: list[dict[str, str]]) -> Event:
    first = lines[0]
    local = datetime.fromisoformat(first["InvoiceDate"]).replace(tzinfo=LONDON)
    amounts = [float(line["Quantity"]) * float(line["UnitPrice"]) for line in lines]
    largest = max(range(len(lines)), key=lambda i: abs(amounts[i]))
    categories = Counter(retail_category(line["Description"]) for line in lines)
    return Event(
        user_id=str(int(float(first["CustomerID"]))),
        ts=utc_from_seconds(local.timestamp()),
        type=EventType.CANCEL if number.startswith("C") else EventType.PURCHASE,
        item_id=lines[largest]["StockCode"],
        category_id=categories.most_common(1)[0][0],
        price=round(abs(sum(amounts)), 2),
        event_id=f"invoice-{number}",
    )


def read_canonical(rows: Iterable[Mapping[str, Any]]) -> Iterator[Event]:
    """Rows in the canonical schema (user_id, ts, type, item_id[, category_id, price, event_id]).

    `ts` is Unix seconds or ISO 8601 with an offset; a naive time is refused (whose clock?).
    """
    events = [_canonical_event(line, row) for line, row in enumerate(rows, start=2)]
    yield from sorted(events, key=lambda event: event.ts)


def _canonical_event(line: int, row: Mapping[str, Any]) -> Event:
    def text(name: str) -> str | None:
        value = row.get(name)
        return None if value is None or str(value) == "" else str(value)

    try:
        return Event(
            user_id=str(row["user_id"]),
            ts=_parse_ts(str(row["ts"])),
            type=EventType(str(row["type"])),
            item_id=text("item_id") or "",
            category_id=text("category_id"),
            price=None if text("price") is None else float(str(row["price"])),
            event_id=text("event_id"),
        )
    except KeyError as exc:
        raise ValueError(f"row {line}: no column {exc} (canonical columns: {_CANONICAL})") from exc
    except ValueError as exc:
        raise ValueError(f"row {line}: {exc}") from exc


def _parse_ts(text: str) -> datetime:
    try:
        return utc_from_seconds(float(text))
    except ValueError:
        parsed = datetime.fromisoformat(text)
        if parsed.tzinfo is None:
            raise ValueError(f"timestamp without timezone: {text!r} (add +00:00)") from None
        return parsed


DATASETS: dict[str, Dataset] = {
    d.name: d
    for d in (
        Dataset(
            "taobao-slice",
            "taobao-userbehavior-slice/taobao_userbehavior_slice_2017-11-26.csv.xz",
            read_taobao,
            "Taobao UserBehavior, 2 h of all users (96k events): streaming and load traffic",
        ),
        Dataset(
            "taobao-814",
            "taobao-userbehavior-814users/taobao_userbehavior_head814users.csv.xz",
            read_taobao,
            "Taobao UserBehavior, complete 9-day histories of 814 users",
        ),
        Dataset(
            "tmall-709",
            "tmall-userlog-709users/tmall_user_log_head709users.csv.xz",
            read_tmall,
            "Tmall IJCAI-15 user logs, 6-month histories of 709 users (day resolution)",
        ),
        Dataset(
            "online-retail",
            "online-retail/online_retail_2010-12-01_2011-09-30.csv.xz",
            read_online_retail,
            "UCI Online Retail (CC BY 4.0), invoices Dec 2010 - Sep 2011",
        ),
    )
}


def load_events(source: str, data_dir: Path = SHARED_DATA_DIR) -> Iterator[Event]:
    """Events of a named dataset, or of a file path (canonical CSV, or a known dataset's file)."""
    dataset = DATASETS.get(source)
    if dataset is not None:
        path = data_dir / dataset.relative_path
        if not path.exists():
            raise FileNotFoundError(
                f"{source}: {path} not found (the shared datasets sit beside a checkout of the"
                " repository, in ../shared/data; elsewhere give the file's path instead)"
            )
        return dataset.read(open_csv(path))
    path = Path(source)
    if not path.exists():
        known = ", ".join(DATASETS)
        raise FileNotFoundError(f"{source}: neither a dataset name ({known}) nor a file")
    return read_by_header(open_csv(path))


def read_by_header(rows: Iterator[dict[str, str]]) -> Iterator[Event]:
    """Pick the reader from the CSV header: Online Retail, Taobao, Tmall or canonical."""
    first = next(rows, None)
    if first is None:
        return iter(())
    columns = set(first)
    both = _chain(first, rows)
    if "InvoiceNo" in columns:
        return read_online_retail(both)
    if "behavior_type" in columns:
        return read_taobao(both)
    if "action_type" in columns:
        return read_tmall(both)
    return read_canonical(both)


def _chain(first: dict[str, str], rest: Iterator[dict[str, str]]) -> Iterator[dict[str, str]]:
    yield first
    yield from rest
