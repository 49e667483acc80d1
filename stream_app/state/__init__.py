"""Per-user state (the table value) and its pure update."""

from stream_app.state.codec import decode_state, encode_state
from stream_app.state.size_bounds import state_bytes_bound
from stream_app.state.user_state import (
    ModelState,
    RecentEvent,
    UpdateOutcome,
    UserState,
    apply_event,
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
