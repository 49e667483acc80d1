"""The action record (output topic `decay.actions`), JSON Schema `schemas/action.v1.json`."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

ACTION_SCHEMA_VERSION = 1


class ActionKind(StrEnum):
    """What a downstream service is asked to do."""

    RE_RECOMMEND = "re_recommend"
    PUSH = "push"
    COUPON = "coupon"


class Reason(StrEnum):
    """Why an action was decided (`decay:<level>` for alerts)."""

    DECAY_WARNING = "decay:warning"
    DECAY_AT_RISK = "decay:at_risk"
    DECAY_CRITICAL = "decay:critical"
    INTEREST_MIGRATION = "interest_migration"

    @classmethod
    def of_level(cls, level: str) -> Reason:
        """The reason for an alert of a level (`warning`, `at_risk`, `critical`)."""
        return cls(f"decay:{level}")


def action_id(user_id: str, kind: ActionKind, basis: str) -> str:
    """Deterministic id: same user, kind and basis (alert id or trigger time) ⇒ same id."""
    digest = hashlib.sha256(f"action|{user_id}|{kind.value}|{basis}".encode()).hexdigest()
    return digest[:32]


def migration_basis(event_seconds: float) -> str:
    """The basis of a migration action's id: the time of the event that revealed the shift."""
    return f"migration|{event_seconds:.3f}"


@dataclass(frozen=True, slots=True)
class Action:
    """One decided action; `control=True` records a held-out user (no real action is taken)."""

    action_id: str
    user_id: str
    kind: ActionKind
    payload: dict[str, Any]
    reason: Reason
    alert_id: str | None
    control: bool
    tier: str
    emitted_at: str
    schema_version: int = ACTION_SCHEMA_VERSION
    #: Quiet hours (mode `defer`): deliver at this time (RFC 3339), not before; None: at once.
    deliver_after: str | None = None

    def to_json_dict(self) -> dict[str, Any]:
        """The message as plain JSON types (`deliver_after` only when set)."""
        body = asdict(self)
        body["kind"] = self.kind.value
        body["reason"] = self.reason.value
        if self.deliver_after is None:
            del body["deliver_after"]
        return body

    def to_json(self) -> bytes:
        """The message value."""
        return json.dumps(self.to_json_dict(), separators=(",", ":")).encode("utf-8")
