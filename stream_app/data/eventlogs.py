"""Adapters from the shared public datasets to the canonical event log.

- Online Retail (UCI, CC BY 4.0, Daqing Chen): one invoice = one event; `C…` invoices are
  `cancel`, others `purchase`; rows without CustomerID (guest checkouts) are dropped. Times are
  Europe/London local. `price` = invoice total (negative for cancels); `item_id` = the stock code
  of the invoice's largest line; `event_id` = invoice number. Category: the product *type* noun of
  the description, i.e. its last word that is not a colour, size, pattern or theme word
  ("WHITE HANGING HEART T-LIGHT HOLDER" → HOLDER); an invoice's category is its most frequent one.
  StockCode families were rejected: their digits follow launch order, not product kind.
- Taobao UserBehavior: pv/cart/fav/buy → view/cart/fav/purchase; out-of-window rows dropped.
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from stream_app.events.schema import EventType
from stream_app.model.eventlog import EventLog, from_rows, open_text, read_canonical

_LONDON = ZoneInfo("Europe/London")
_WORD = re.compile(r"[A-Z][A-Z'-]+")
_NOT_A_TYPE = frozenset(
    [
        "DESIGN",
        "PINK",
        "RED",
        "BLUE",
        "WHITE",
        "GREEN",
        "CREAM",
        "BLACK",
        "IVORY",
        "PURPLE",
        "GOLD",
        "SILVER",
        "YELLOW",
        "ORANGE",
        "BROWN",
        "GREY",
        "NATURAL",
        "PASTEL",
        "LARGE",
        "SMALL",
        "MEDIUM",
        "MINI",
        "JUMBO",
        "BIG",
        "RETROSPOT",
        "POLKADOT",
        "PAISLEY",
        "ASSORTED",
        "SET",
        "OF",
        "TIER",
        "FINISH",
        "COLOUR",
        "COLOURS",
        "COL",
        "VINTAGE",
        "WOODLAND",
        "LONDON",
        "SPOTS",
        "DOTS",
        "DOTTY",
        "STRIPE",
        "STRIPES",
        "FLOWER",
        "FLORAL",
        "ROSE",
        "ROSES",
        "HEART",
        "HEARTS",
        "CHRISTMAS",
        "TRADITIONAL",
        "DOLLY",
        "GIRL",
        "SKULL",
        "SKULLS",
        "BIRD",
        "BIRDS",
        "FELTCRAFT",
        "REGENCY",
        "ANTIQUE",
        "ENGLISH",
        "PANTRY",
        "SPACEBOY",
        "WITH",
        "AND",
        "IN",
        "THE",
        "A",
    ]
)
TAOBAO_TYPES = {
    "pv": EventType.VIEW,
    "cart": EventType.CART,
    "fav": EventType.FAV,
    "buy": EventType.PURCHASE,
}
# 2017-11-25 00:00 to 2017-12-04 00:00 Beijing time (UTC+8): the documented 9-day window.
TAOBAO_WINDOW = (1511539200.0, 1512316800.0)

FORMATS = ("canonical", "online-retail", "taobao")

Row = tuple[str, float, EventType, str, str | None, float | None]


def retail_category(description: str) -> str:
    """Product-type word of an Online Retail description (see module doc)."""
    words = _WORD.findall(description.upper())
    return next((w for w in reversed(words) if w not in _NOT_A_TYPE), "MISC")


def _retail_invoice_event(invoice: str, lines: list[dict[str, str]]) -> Row:
    first = lines[0]
    amounts = [float(x["Quantity"]) * float(x["UnitPrice"]) for x in lines]
    top = max(range(len(lines)), key=lambda i: abs(amounts[i]))
    cats = Counter(retail_category(x["Description"]) for x in lines)
    local = datetime.strptime(first["InvoiceDate"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=_LONDON)
    return (
        first["CustomerID"].removesuffix(".0"),
        local.timestamp(),
        EventType.CANCEL if invoice.startswith("C") else EventType.PURCHASE,
        lines[top]["StockCode"],
        cats.most_common(1)[0][0],
        round(sum(amounts), 2),
    )


def read_online_retail(path: Path) -> EventLog:
    """Online Retail CSV (optionally .xz) → canonical log, one event per invoice."""
    invoices: dict[str, list[dict[str, str]]] = {}
    with open_text(path) as fh:
        for row in csv.DictReader(fh):
            if row["CustomerID"].strip():
                invoices.setdefault(row["InvoiceNo"], []).append(row)
    return from_rows([_retail_invoice_event(k, v) for k, v in invoices.items()])


def read_taobao(path: Path, window: tuple[float, float] = TAOBAO_WINDOW) -> EventLog:
    """Taobao UserBehavior CSV (optionally .xz) → canonical log."""
    rows: list[Row] = []
    with open_text(path) as fh:
        for row in csv.DictReader(fh):
            ts = float(row["timestamp"])
            if window[0] <= ts < window[1] and row["behavior_type"] in TAOBAO_TYPES:
                kind = TAOBAO_TYPES[row["behavior_type"]]
                rows.append((row["user_id"], ts, kind, row["item_id"], row["category_id"], None))
    return from_rows(rows)


def read_log(path: Path, fmt: str) -> EventLog:
    """An event log in one of `FORMATS`."""
    if fmt == "online-retail":
        return read_online_retail(path)
    if fmt == "taobao":
        return read_taobao(path)
    return read_canonical(path)
