import math
from dataclasses import replace

import numpy as np
import pytest

from stream_app.events.decode import MAX_ID_CHARS
from stream_app.events.schema import EVENT_TYPES, Event, EventType, utc_from_seconds
from stream_app.state import (
    ModelState,
    UpdateOutcome,
    UserState,
    apply_event,
    decode_state,
    encode_state,
    state_bytes_bound,
)
from stream_app.state.codec import STATE_FORMAT_VERSION
from stream_app.state.outcomes import OpenPrediction, Outcomes
from stream_app.state.user_state import DECAY_SCALES_DAYS, DECAYED_SIZE, decayed_counts
from tests.state_fixtures import (
    FORMAT_3_STATE,
    FORMAT_4_STATE,
    FORMAT_5_STATE,
    format_2_bytes,
    older_format_state,
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


def _with_model(h: tuple[float, ...]) -> UserState:
    state, _ = apply_event(None, event(10, EventType.PURCHASE, 1.25, "e"), 3, 5)
    model = ModelState(
        version="m-1",
        h=h,
        c=tuple(-x for x in h),
        mu=(2**-10, 2**-9),  # exact float32 values, as model outputs are
        alpha=(0.5, 0.0625),
        beta=(1.0, 0.03125),
        top_buckets=(((7, 0.75), (3, 0.125)), ((1023, 0.5),)),
    )
    return replace(state, model=model, alert_level=2, action_times=(("coupon", 12.5),))


def test_state_with_model_round_trips_exactly() -> None:
    float32_values = tuple(float(x) for x in np.linspace(-1, 1, 48, dtype=np.float32))
    state = _with_model(float32_values)
    raw = encode_state(state)
    assert raw[:2] == b"DS" and raw[3] == 4  # float32 block: every value fits exactly
    assert decode_state(raw) == state
    arbitrary = _with_model((0.1, 1e-300, -2.5e17, math.pi))  # not float32: float64 block
    raw = encode_state(arbitrary)
    assert raw[3] == 8 and decode_state(raw) == arbitrary


def test_binary_state_is_smaller_than_json() -> None:
    state = _with_model(tuple(float(x) for x in np.random.default_rng(0).random(48, np.float32)))
    assert len(encode_state(state)) < len(format_2_bytes(state)) / 2


def test_json_format_2_of_older_changelogs_still_decodes() -> None:
    state = replace(_with_model((0.1, -0.2, 0.3)), decayed=())  # format 2 had no decayed counts
    assert decode_state(format_2_bytes(state)) == state
    assert decode_state(format_2_bytes(replace(state, model=None))) == replace(state, model=None)


def test_unknown_formats_are_refused() -> None:
    raw = encode_state(_with_model((0.5,)))
    with pytest.raises(ValueError, match="unknown user state format"):
        decode_state(raw[:2] + b"\x09" + raw[3:])
    with pytest.raises(ValueError, match="unknown user state format"):
        decode_state(b'{"v":1}')


def _fold(events: list[Event], sequence_length: int = 50) -> UserState:
    state: UserState | None = None
    for offset, e in enumerate(events):
        state, _ = apply_event(state, e, offset, sequence_length)
    assert state is not None
    return state


def test_decayed_counts_are_the_sum_of_each_events_weight_at_the_last_event() -> None:
    day = 86_400.0
    times = [0.0, 3 * day, 1.5 * day, 40 * day, 40 * day]  # one late event, one tie
    kinds = [EventType.VIEW, EventType.PURCHASE, EventType.VIEW, EventType.CART, EventType.VIEW]
    state = _fold([event(t, k) for t, k in zip(times, kinds, strict=True)])
    last = max(times)
    for ti, kind in enumerate(EVENT_TYPES):
        for si, scale in enumerate(DECAY_SCALES_DAYS):
            expected = sum(
                math.exp(-(last - t) / day / scale)
                for t, k in zip(times, kinds, strict=True)
                if k is kind
            )
            got = state.decayed[ti * len(DECAY_SCALES_DAYS) + si]
            assert got == pytest.approx(expected, rel=1e-12, abs=1e-300)


def test_decayed_counts_round_trip_and_old_states_rebuild_them_from_the_ring() -> None:
    state = _fold([event(t * 86_400.0) for t in (0, 1, 5)])
    assert decode_state(encode_state(state)) == state
    older = replace(state, decayed=())  # written before the counts were kept
    assert decode_state(encode_state(older)).decayed == ()
    assert decayed_counts(older) == pytest.approx(state.decayed, rel=1e-12)
    # with a model, the counts follow its float32 block
    counts = tuple(0.5 + i for i in range(DECAYED_SIZE))
    with_model = replace(_with_model((0.25, -0.5)), decayed=counts)
    assert decode_state(encode_state(with_model)) == with_model


def test_format_3_of_older_changelogs_still_decodes_and_goes_on_the_same() -> None:
    expected = older_format_state()
    old = decode_state(FORMAT_3_STATE)
    assert FORMAT_3_STATE[2] == 3 and old == expected
    assert decode_state(encode_state(old)) == expected  # written again as format 5
    later = Event("u-ü", utc_from_seconds(1_700_100_000), EventType.VIEW, "item-9", "c", None, "e3")
    assert apply_event(old, later, 7, 5)[1] is UpdateOutcome.DUPLICATE_EVENT_ID  # e3: in the ring
    fresh = replace(later, event_id="e9")
    after, outcome = apply_event(old, fresh, 7, 5)
    assert outcome is UpdateOutcome.APPLIED
    assert [r.item_id for r in after.recent] == ["item-3", "item-4", "item-5", "item-6", "item-9"]


def test_the_spelled_out_copies_keep_every_field() -> None:
    """`apply_event` and `with_model` build the state field by field (not `replace`): a field
    added to `UserState` and forgotten there fails here."""
    full = replace(
        _fold([event(1_700_000_000.0 + i, EventType.PURCHASE, price=2.0) for i in range(3)]),
        model=_with_model((0.5,)).model,
        alert_level=2,
        last_tick_offset=9,
        action_times=(("coupon", 1.0),),
        predictions=(OpenPrediction("warning", 0.4, "v", 1.0, 2.0, ()),),
        outcomes=Outcomes(),
    )
    other = _with_model((0.25,)).model
    assert full.with_model(other) == replace(full, model=other)
    later, _ = apply_event(full, event(1_700_000_100.0, EventType.VIEW), 99, 50)
    carried = ("model", "last_tick_offset", "action_times", "predictions", "outcomes")
    assert {f: getattr(later, f) for f in carried} == {f: getattr(full, f) for f in carried}
    assert later.alert_level == 0 and later.last_offset == 99  # a new silence begins


def test_format_4_of_older_changelogs_still_decodes_and_goes_on_the_same() -> None:
    expected = older_format_state()
    old = decode_state(FORMAT_4_STATE)
    assert FORMAT_4_STATE[2] == 4 and old == expected
    again = encode_state(old)
    assert again[2] == STATE_FORMAT_VERSION and decode_state(again) == expected
    assert len(again) < len(FORMAT_4_STATE)
    fresh = Event("u-ü", utc_from_seconds(1_700_100_000), EventType.VIEW, "item-9", "c", None, "e9")
    assert apply_event(old, fresh, 7, 5) == apply_event(expected, fresh, 7, 5)


def test_format_5_of_older_changelogs_still_decodes_and_goes_on_the_same() -> None:
    expected = older_format_state()
    old = decode_state(FORMAT_5_STATE)
    assert FORMAT_5_STATE[2] == 5 and old == expected
    again = encode_state(old)
    assert again[2] == STATE_FORMAT_VERSION and decode_state(again) == expected
    fresh = Event("u-ü", utc_from_seconds(1_700_100_000), EventType.VIEW, "item-9", "c", None, "e9")
    assert apply_event(old, fresh, 7, 5) == apply_event(expected, fresh, 7, 5)


def test_states_without_times_model_or_counts_round_trip() -> None:
    wide = (((70_000, 0.5), (3, 0.25)), ((-1, 0.125),))  # ids beyond u16: written as i32
    for state in (
        UserState(),
        UserState(last_offset=4, first_event_seconds=0.0, last_event_seconds=0.0),
        replace(_with_model((0.5,)), decayed=(), action_times=()),
        replace(_with_model(()), model=replace(_with_model(()).model, top_buckets=())),
        replace(_with_model((0.5,)), model=replace(_with_model(()).model, top_buckets=wide)),
    ):
        assert decode_state(encode_state(state)) == state


def test_truncated_or_padded_states_are_refused() -> None:
    raw = encode_state(_with_model((0.5, 0.25)))
    for cut in (3, 20, len(raw) // 2, len(raw) - 1):
        with pytest.raises(ValueError):
            decode_state(raw[:cut])
    with pytest.raises(ValueError, match="wrong length"):
        decode_state(raw + b"\x00")
