"""Per-user action bookkeeping: when each kind was last decided (a small frozen value)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from stream_app.policy.records import ActionKind


@dataclass(frozen=True, slots=True)
class ActionHistory:
    """Last decision time (Unix seconds) per action kind, control records included.

    Stored in the user's table value; `to_json_dict` / `from_json_dict` give its wire form.
    """

    last_seconds: tuple[tuple[ActionKind, float], ...] = ()

    def last(self, kind: ActionKind) -> float | None:
        """When `kind` was last decided for this user, or None."""
        for stored, seconds in self.last_seconds:
            if stored is kind:
                return seconds
        return None

    def with_sent(self, kind: ActionKind, now_seconds: float) -> ActionHistory:
        """A new history with `kind` decided at `now_seconds` (a later time is kept)."""
        previous = self.last(kind)
        latest = now_seconds if previous is None else max(previous, now_seconds)
        others = tuple((k, s) for k, s in self.last_seconds if k is not kind)
        return ActionHistory(tuple(sorted((*others, (kind, latest)))))

    def to_json_dict(self) -> dict[str, float]:
        """`{"coupon": 1.3e9, ...}`."""
        return {kind.value: seconds for kind, seconds in self.last_seconds}

    @classmethod
    def from_json_dict(cls, body: Mapping[str, float] | None) -> ActionHistory:
        """Inverse of `to_json_dict`; None or `{}` is an empty history."""
        if not body:
            return cls()
        return cls(tuple(sorted((ActionKind(k), float(v)) for k, v in body.items())))
