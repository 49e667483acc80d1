from stream_app.events.schema import Event, EventType, utc_from_seconds
from stream_app.state import UpdateOutcome, UserState, apply_event, decode_state, encode_state


def event(
    ts: float,
    kind: EventType = EventType.VIEW,
    price: float | None = None,
    event_id: str | None = None,
) -> Event:
    return Event("u1", utc_from_seconds(ts), kind, f"item-{ts:.0f}", "c1", price, event_id)


def test_counters_ring_and_times() -> None:
    state: UserState | None = None
    stream = [
        event(10),
        event(20, EventType.PURCHASE, 5.0),
        event(15, EventType.CANCEL, 2.0),
        event(30),
    ]
    for offset, e in enumerate(stream):
        state, outcome = apply_event(state, e, offset, sequence_length=3)
        assert outcome is UpdateOutcome.APPLIED
    assert state is not None
    assert state.events_total == 4
    assert (
        state.count(EventType.VIEW) == 2
        and state.purchases_total == 1
        and state.count(EventType.CANCEL) == 1
    )
    assert state.spend_total == 3.0
    assert (state.first_event_seconds, state.last_event_seconds) == (10, 30)
    assert [r.item_id for r in state.recent] == ["item-20", "item-15", "item-30"]


def test_redelivered_offset_changes_nothing() -> None:
    state, _ = apply_event(None, event(10), 7, 5)
    again, outcome = apply_event(state, event(10), 7, 5)
    assert outcome is UpdateOutcome.DUPLICATE_OFFSET and again is state


def test_repeated_event_id_is_not_counted_twice() -> None:
    state, _ = apply_event(None, event(10, event_id="e1"), 0, 5)
    again, outcome = apply_event(state, event(10, event_id="e1"), 1, 5)
    assert outcome is UpdateOutcome.DUPLICATE_EVENT_ID
    assert again.events_total == 1 and again.last_offset == 1


def test_state_round_trips_through_bytes() -> None:
    state, _ = apply_event(None, event(10, EventType.PURCHASE, 1.25, "e"), 3, 5)
    assert decode_state(encode_state(state)) == state
