"""Upper bounds of a user's table value: what keeps every changelog record under Kafka's
message size, whatever the user sent."""

from __future__ import annotations

from stream_app.events.decode import MAX_ID_CHARS
from stream_app.state.user_state import DECAYED_SIZE

#: Longest JSON form of a float (`-2.2250738585072014e-308`) or an int counter, in bytes.
_NUMBER_BYTES = 24


#: One id in the state's JSON part: quotes plus MAX_ID_CHARS characters, each escaped by `json.dumps`
#: to at most 12 bytes (an astral character is two `\\uXXXX` escapes).
_ID_BYTES = 2 + 12 * MAX_ID_CHARS


#: One ring entry: ts, type, item, category, price, event_id, brackets and commas.
RECENT_EVENT_MAX_BYTES = 3 * _ID_BYTES + 2 * _NUMBER_BYTES + 12 + 8


#: Everything but the ring and the model: field names, counters, times, alert, action times.
_FIXED_MAX_BYTES = 1024


def state_bytes_bound(
    sequence_length: int, hidden_size: int = 0, components: int = 0, version_chars: int = 128
) -> int:
    """Upper bound of `len(stream_app.state.codec.encode_state(state))` for any state the worker can build.

    It does not depend on how many events the user sent: the ring keeps `sequence_length`
    entries, ids are at most `MAX_ID_CHARS` characters (`decode_event` refuses longer ones) and
    the model state has a fixed shape (`hidden_size`, `components`, a few top buckets each).
    """
    numbers = 2 * hidden_size + 3 * components + 2 * 8 * components
    model = numbers * (_NUMBER_BYTES + 1) + 12 * version_chars + 64 + 8 * DECAYED_SIZE
    ring = sequence_length * (RECENT_EVENT_MAX_BYTES + 2)  # a frame: u16 length + entry
    return ring + model + outcome_bytes_bound(version_chars) + _FIXED_MAX_BYTES


#: What bounds the outcome part of a state (`stream_app.schedule.outcomes` keeps to it).
#: One per alert level in the current silence, and as many returned ones waiting for their H.
MAX_OPEN_PREDICTIONS = 6


MAX_ALERT_TALLIES = 3 * 4 * 10  # levels × model versions kept apart × probability buckets


MAX_ACTION_TALLIES = 6  # action kinds × treated/control


_LABEL_BYTES = 2 + 32  # a level, kind or bucket name, quoted


def outcome_bytes_bound(version_chars: int = 128) -> int:
    """Upper bound of the open predictions and outcome tallies in the state's JSON part."""
    version = 2 + 12 * version_chars
    prediction = _LABEL_BYTES + version + 4 * _NUMBER_BYTES + 3 * (_LABEL_BYTES + 10) + 16
    alert_tally = 2 * _LABEL_BYTES + version + 4 * _NUMBER_BYTES + 10
    action_tally = _LABEL_BYTES + 6 + 2 * _NUMBER_BYTES + 6
    return (
        MAX_OPEN_PREDICTIONS * (prediction + 1)
        + MAX_ALERT_TALLIES * (alert_tally + 1)
        + MAX_ACTION_TALLIES * (action_tally + 1)
        + 32
    )
