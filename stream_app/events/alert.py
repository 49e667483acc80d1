"""The decay alert (output topic `decay.alerts`), JSON Schema `schemas/alert.v2.json`."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import datetime

ALERT_SCHEMA_VERSION = 2


def alert_id(user_id: str, level: str, episode_seconds: float) -> str:
    """Deterministic id: same user, level and silence episode ⇒ same id (downstream de-dup)."""
    digest = hashlib.sha256(f"alert|{user_id}|{level}|{episode_seconds:.3f}".encode()).hexdigest()
    return digest[:32]


@dataclass(frozen=True, slots=True)
class Alert:
    """A user's interest has decayed past a level during a silence."""

    alert_id: str
    user_id: str
    level: str
    return_probability: float
    horizon_days: float
    silent_for_s: float
    last_event_at: str
    top_categories: list[str]
    model_version: str
    emitted_at: str
    #: P / its peak after the last event, the peak, and lower levels reached at the same time.
    relative_probability: float = 1.0
    peak_return_probability: float = 0.0
    skipped_levels: list[str] = field(default_factory=list)
    schema_version: int = ALERT_SCHEMA_VERSION

    def to_json(self) -> bytes:
        """The message value."""
        return json.dumps(asdict(self), separators=(",", ":")).encode("utf-8")


def iso(dt: datetime) -> str:
    """RFC 3339 with `Z` for UTC."""
    return dt.isoformat(timespec="milliseconds").replace("+00:00", "Z")
