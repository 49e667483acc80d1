"""What a valid event is, shared by both decoders: limits, id rules, the type vocabulary."""

from __future__ import annotations

import re
from dataclasses import dataclass

from stream_app.events.schema import EventType

MAX_ID_CHARS = 256
#: Larger prices are refused: a running spend of a million such events stays finite.
MAX_PRICE = 1e12
#: C0 and C1 control characters, DEL, and lone UTF-16 surrogates (JSON `\\ud800` escapes).
FORBIDDEN_ID_CHARS = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
EVENT_TYPES_BY_NAME = {t.value: t for t in EventType}


@dataclass(frozen=True, slots=True)
class DecodeLimits:
    """Validation limits; `now_seconds` comes from the caller's clock."""

    now_seconds: float
    max_event_bytes: int = 65_536
    max_future_skew_seconds: float = 86_400.0
    min_event_epoch_seconds: float = 946_684_800.0
    #: Schema-registry framing (`wire_format.py`): None refuses it (no registry configured); a
    #: set accepts the schema ids in it, an empty set any id.
    schema_ids: frozenset[int] | None = None
