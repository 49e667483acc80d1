"""Internal tick (topic `decay.ticks`): "check this user now", keyed and partitioned like the user."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass


@dataclass(frozen=True, slots=True)
class Tick:
    """A due time reached for `user_id`'s `level` in the episode that began at `episode`.

    `sent_seconds` is the timer's time when it sent the tick, the time the tick decides at:
    a tick handled again after a crash decides the same alert, with the same fields, however
    late it is taken. Ticks written by earlier versions have none (decided at the clock's now).
    """

    user_id: str
    episode: float
    level: int
    due_seconds: float
    sent_seconds: float | None = None

    def to_json(self) -> bytes:
        """The message value."""
        body = asdict(self)
        if self.sent_seconds is None:
            del body["sent_seconds"]
        return json.dumps(body, separators=(",", ":")).encode("utf-8")

    @classmethod
    def from_json(cls, raw: bytes) -> Tick:
        """Inverse of `to_json` (ticks are written by workers only)."""
        body = json.loads(raw)
        return cls(
            str(body["user_id"]),
            float(body["episode"]),
            int(body["level"]),
            float(body["due_seconds"]),
            None if body.get("sent_seconds") is None else float(body["sent_seconds"]),
        )
