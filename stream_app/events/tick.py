"""Internal tick (topic `decay.ticks`): "check this user now", keyed and partitioned like the user."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass


@dataclass(frozen=True, slots=True)
class Tick:
    """A due time reached for `user_id`'s `level` in the episode that began at `episode`."""

    user_id: str
    episode: float
    level: int
    due_seconds: float

    def to_json(self) -> bytes:
        """The message value."""
        return json.dumps(asdict(self), separators=(",", ":")).encode("utf-8")

    @classmethod
    def from_json(cls, raw: bytes) -> Tick:
        """Inverse of `to_json` (ticks are written by workers only)."""
        body = json.loads(raw)
        return cls(
            str(body["user_id"]),
            float(body["episode"]),
            int(body["level"]),
            float(body["due_seconds"]),
        )
