from dataclasses import replace

from stream_app.events.decode import MAX_ID_CHARS
from stream_app.events.schema import Event, EventType, utc_from_seconds
from stream_app.state import (
    ModelState,
    UpdateOutcome,
    UserState,
    apply_event,
    decode_state,
    encode_state,
    state_bytes_bound,
)


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


def test_state_size_is_bounded_whatever_the_user_sends() -> None:
    """A million events with the longest ids the decoder accepts stay under the bound."""
    longest = "\U0001f600" * MAX_ID_CHARS  # each escaped to 12 bytes in the state's JSON
    k, hidden, components = 50, 64, 8
    big = -2.2250738585072014e-308
    model = ModelState(
        "v" * 128,
        (big,) * hidden,
        (big,) * hidden,
        (big,) * components,
        (big,) * components,
        (big,) * components,
        tuple(tuple((1023, big) for _ in range(8)) for _ in range(components)),
    )
    state: UserState | None = None
    sizes = []
    for offset in range(3 * k):
        e = Event(
            longest,
            utc_from_seconds(1.7e9 + offset + 0.123456789),
            EventType.PURCHASE,
            longest,
            longest,
            1e12 - 0.123456789,
            longest[:-1] + chr(0x10000 + offset),  # distinct, astral
        )
        state, _ = apply_event(state, e, 10**18 + offset, sequence_length=k)
        state = replace(state, model=model, spend_total=-1.2345678901234567e300)
        sizes.append(len(encode_state(state)))
    assert len(state.recent) == k
    assert max(sizes) - sizes[k - 1] < 64  # full ring: the size no longer grows
    assert max(sizes) <= state_bytes_bound(k, hidden, components)
    assert state_bytes_bound(k, hidden, components) < 1_000_000  # fits Kafka's default message size
