"""Per-user state (the table value) and its pure update."""

from stream_app.state.user_state import (
    ModelState,
    RecentEvent,
    UpdateOutcome,
    UserState,
    apply_event,
    decode_state,
    encode_state,
    state_bytes_bound,
)

__all__ = [
    "ModelState",
    "RecentEvent",
    "UpdateOutcome",
    "UserState",
    "apply_event",
    "decode_state",
    "encode_state",
    "state_bytes_bound",
]
