"""Expected per-user state computed straight from a dataset file, without the project's code."""

from __future__ import annotations

import csv
import io
import lzma
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

TAOBAO_SLICE = "taobao-userbehavior-slice/taobao_userbehavior_slice_2017-11-26.csv.xz"
TAOBAO_TYPES = {"pv": "view", "cart": "cart", "fav": "fav", "buy": "purchase"}


@dataclass
class ExpectedUser:
    counts: Counter[str] = field(default_factory=Counter)
    last_ts: float = float("-inf")
    items: list[tuple[str, str]] = field(default_factory=list)


def taobao_rows(shared_data: Path, limit: int) -> list[dict[str, str]]:
    """The first `limit` rows in event-time order (a stable sort, as replay streams them)."""
    with lzma.open(shared_data / TAOBAO_SLICE, "rb") as raw:
        rows = list(csv.DictReader(io.TextIOWrapper(raw, encoding="utf-8")))
    rows.sort(key=lambda row: int(row["timestamp"]))
    return rows[:limit]


def expected_users(rows: list[dict[str, str]], sequence_length: int) -> dict[str, ExpectedUser]:
    users: dict[str, ExpectedUser] = defaultdict(ExpectedUser)
    for row in rows:
        user = users[row["user_id"]]
        kind = TAOBAO_TYPES[row["behavior_type"]]
        user.counts[kind] += 1
        user.last_ts = max(user.last_ts, float(row["timestamp"]))
        user.items.append((row["item_id"], kind))
    for user in users.values():
        user.items = user.items[-sequence_length:]
    return dict(users)
