import json
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
    assert len(encode_state(state)) < len(_json_v2(state)) / 2


def test_json_format_2_of_older_changelogs_still_decodes() -> None:
    state = replace(_with_model((0.1, -0.2, 0.3)), decayed=())  # format 2 had no decayed counts
    assert decode_state(_json_v2(state)) == state
    assert decode_state(_json_v2(replace(state, model=None))) == replace(state, model=None)


def test_unknown_formats_are_refused() -> None:
    raw = encode_state(_with_model((0.5,)))
    with pytest.raises(ValueError, match="unknown user state format"):
        decode_state(raw[:2] + b"\x09" + raw[3:])
    with pytest.raises(ValueError, match="unknown user state format"):
        decode_state(b'{"v":1}')


def _json_v2(state: UserState) -> bytes:
    """A state as format 2 wrote it (the encoder before format 3, verbatim)."""
    model = state.model
    body = {
        "v": 2,
        "n": state.events_total,
        "types": list(state.type_counts),
        "spend": state.spend_total,
        "first": state.first_event_seconds,
        "last": state.last_event_seconds,
        "off": state.last_offset,
        "tick_off": state.last_tick_offset,
        "alert": state.alert_level,
        "acts": dict(state.action_times),
        "model": None
        if model is None
        else {
            "v": model.version,
            "h": model.h,
            "c": model.c,
            "mu": model.mu,
            "alpha": model.alpha,
            "beta": model.beta,
            "top": [[[b, w] for b, w in component] for component in model.top_buckets],
        },
        "recent": [
            [r.ts_seconds, r.type.value, r.item_id, r.category_id, r.price, r.event_id]
            for r in state.recent
        ],
    }
    return json.dumps(body, separators=(",", ":")).encode("utf-8")


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


#: A state written by format 3 (the ring inside the JSON part): encoded by the worker of the
#: release before the packed ring, from the events of `_format_3_events` (sequence length 5).
FORMAT_3_STATE = bytes.fromhex(
    "44530308c50100007b226e223a372c227479706573223a5b332c302c322c302c322c305d2c227370656e64223a32352e302c226669727374223a313730303030303030302e302c226c617374223a313730303032313630302e302c226f6666223a362c227469636b5f6f6666223a2d312c22616c657274223a302c2261637473223a7b7d2c22726563656e74223a5b5b313730303030373230302e302c227075726368617365222c226974656d2d32222c226361745c2230222c31322e352c6e756c6c5d2c5b313730303031303830302e302c2276696577222c226974656d2d33222c226361745c2231222c6e756c6c2c226533225d2c5b313730303031343430302e302c2263617274222c226974656d2d34222c6e756c6c2c6e756c6c2c6e756c6c5d2c5b313730303031383030302e302c227075726368617365222c226974656d2d35222c226361745c2231222c31322e352c226535225d2c5b313730303032313630302e302c2276696577222c226974656d2d36222c226361745c2230222c6e756c6c2c6e756c6c5d5d2c226d6f64656c223a7b2276223a22332e312b616263222c2273697a6573223a5b322c322c315d2c22746f70223a5b5b352c365d5d7d2c22646563223a31387d000000000000e03f000000000000d0bf000000000000c03f000000000000f03ffca9f1d24d62503f9a9999999999c93f9a9999999999b93f000000000000e83f000000000000d03ff01052a9e6930740e48a49197de60740335f32fe79f707400000000000000000000000000000000000000000000000002b79532b6b57ff3fa14540c74ad8ff3f7e09f317bdf2ff3f0000000000000000000000000000000000000000000000002f5d68ca5187ff3fc2da89629fe3ff3fdb9463a686f6ff3f000000000000000000000000000000000000000000000000"
)


def _format_3_events() -> list[Event]:
    kinds = [EventType.VIEW, EventType.CART, EventType.PURCHASE]
    return [
        Event(
            "u-ü",
            utc_from_seconds(1_700_000_000 + 3600 * k),
            kinds[k % 3],
            f"item-{k}",
            None if k % 4 == 0 else f'cat"{k % 2}',
            12.5 if k % 3 == 2 else None,
            f"e{k}" if k % 2 else None,
        )
        for k in range(7)
    ]


def _format_3_model() -> ModelState:
    return ModelState(
        "3.1+abc", (0.5, -0.25), (0.125, 1.0), (0.001,), (0.2,), (0.1,), (((5, 0.75), (6, 0.25)),)
    )


def _older_format_state() -> UserState:
    """What the older-format fixtures hold: `_format_3_events` applied, `_format_3_model`."""
    state = None
    for offset, e in enumerate(_format_3_events()):
        state, _ = apply_event(state, e, offset, 5)
    assert state is not None
    return replace(state, model=_format_3_model())


def test_format_3_of_older_changelogs_still_decodes_and_goes_on_the_same() -> None:
    expected = _older_format_state()
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


#: The same state as format 4 wrote it (the worker of the release before format 5; float64
#: block, decayed counts).
FORMAT_4_STATE = bytes.fromhex(
    "44530408c5000000030100007b226e223a372c227479706573223a5b332c302c322c302c322c305d2c227370656e"
    "64223a32352e302c226669727374223a313730303030303030302e302c226c617374223a31373030303231363030"
    "2e302c226f6666223a362c227469636b5f6f6666223a2d312c22616c657274223a302c2261637473223a7b7d2c22"
    "6e726563223a352c226d6f64656c223a7b2276223a22332e312b616263222c2273697a6573223a5b322c322c315d"
    "2c22746f70223a5b5b352c365d5d7d2c22646563223a31387d35005b313730303030373230302e302c2270757263"
    "68617365222c226974656d2d32222c226361745c2230222c31322e352c6e756c6c5d31005b313730303031303830"
    "302e302c2276696577222c226974656d2d33222c226361745c2231222c6e756c6c2c226533225d2d005b31373030"
    "3031343430302e302c2263617274222c226974656d2d34222c6e756c6c2c6e756c6c2c6e756c6c5d35005b313730"
    "303031383030302e302c227075726368617365222c226974656d2d35222c226361745c2231222c31322e352c2265"
    "35225d31005b313730303032313630302e302c2276696577222c226974656d2d36222c226361745c2230222c6e75"
    "6c6c2c6e756c6c5d000000000000e03f000000000000d0bf000000000000c03f000000000000f03ffca9f1d24d62"
    "503f9a9999999999c93f9a9999999999b93f000000000000e83f000000000000d03ff01052a9e6930740e48a4919"
    "7de60740335f32fe79f707400000000000000000000000000000000000000000000000002b79532b6b57ff3fa145"
    "40c74ad8ff3f7e09f317bdf2ff3f0000000000000000000000000000000000000000000000002f5d68ca5187ff3f"
    "c2da89629fe3ff3fdb9463a686f6ff3f000000000000000000000000000000000000000000000000"
)


def test_format_4_of_older_changelogs_still_decodes_and_goes_on_the_same() -> None:
    expected = _older_format_state()
    old = decode_state(FORMAT_4_STATE)
    assert FORMAT_4_STATE[2] == 4 and old == expected
    again = encode_state(old)
    assert again[2] == STATE_FORMAT_VERSION and decode_state(again) == expected
    assert len(again) < len(FORMAT_4_STATE)
    fresh = Event("u-ü", utc_from_seconds(1_700_100_000), EventType.VIEW, "item-9", "c", None, "e9")
    assert apply_event(old, fresh, 7, 5) == apply_event(expected, fresh, 7, 5)


#: The same state as written by format 5 (a binary record, then the JSON and the ring before
#: the model arrays), the format before the current one.
FORMAT_5_STATE = bytes.fromhex(
    "44530508070700000000000000000000000000394000000040fc54d941000000581155d9410600000000000000ffffff"
    "ffffffffff00060500030100000000000012070002000200010001000300000000000000000000000000000002000000"
    "0000000000000000000000000200000000000000000000000000000035005b313730303030373230302e302c22707572"
    "6368617365222c226974656d2d32222c226361745c2230222c31322e352c6e756c6c5d31005b31373030303130383030"
    "2e302c2276696577222c226974656d2d33222c226361745c2231222c6e756c6c2c226533225d2d005b31373030303134"
    "3430302e302c2263617274222c226974656d2d34222c6e756c6c2c6e756c6c2c6e756c6c5d35005b3137303030313830"
    "30302e302c227075726368617365222c226974656d2d35222c226361745c2231222c31322e352c226535225d31005b31"
    "3730303032313630302e302c2276696577222c226974656d2d36222c226361745c2230222c6e756c6c2c6e756c6c5d33"
    "2e312b616263020005000600000000000000e03f000000000000d0bf000000000000c03f000000000000f03ffca9f1d2"
    "4d62503f9a9999999999c93f9a9999999999b93f000000000000e83f000000000000d03ff01052a9e6930740e48a4919"
    "7de60740335f32fe79f707400000000000000000000000000000000000000000000000002b79532b6b57ff3fa14540c7"
    "4ad8ff3f7e09f317bdf2ff3f0000000000000000000000000000000000000000000000002f5d68ca5187ff3fc2da8962"
    "9fe3ff3fdb9463a686f6ff3f000000000000000000000000000000000000000000000000"
)


def test_format_5_of_older_changelogs_still_decodes_and_goes_on_the_same() -> None:
    expected = _older_format_state()
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
