"""Per-user state (the table value) and its pure update."""

from stream_app.state.user_state import (
    RecentEvent,
    UpdateOutcome,
    UserState,
    apply_event,
    decode_state,
    encode_state,
)

__all__ = [
    "RecentEvent",
    "UpdateOutcome",
    "UserState",
    "apply_event",
    "decode_state",
    "encode_state",
]
