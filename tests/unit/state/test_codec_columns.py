"""The batch codec: byte-equal to the one-user codec, and the same states back, whatever mix of
users (with and without a model, other shapes, older formats, none at all) a batch holds."""

import math
from dataclasses import replace

import numpy as np
import pytest

from stream_app.events.schema import EventType
from stream_app.state import UserState, apply_event, decode_state, encode_state
from stream_app.state.codec_columns import decode_columns, encode_columns
from stream_app.state.columns import ModelShapes, columns_of
from stream_app.state.outcomes import OpenPrediction
from tests.unit.state.test_user_state import (
    FORMAT_3_STATE,
    FORMAT_4_STATE,
    FORMAT_5_STATE,
    _fold,
    _with_model,
    event,
)


def _states() -> list[UserState]:
    float32_h = tuple(float(x) for x in np.linspace(-1, 1, 4, dtype=np.float32))
    regular = _with_model(float32_h)
    prediction = OpenPrediction(2, 0.25, "m-1", 100.0, 200.0, (("coupon", False),))
    later, _ = apply_event(regular, event(50, EventType.VIEW, None, "e2"), 9, 5)
    return [
        regular,
        later,
        replace(regular, predictions=(prediction,), alert_level=3),
        _with_model((0.1, 1e-300, -2.5e17, math.pi)),  # not float32: a float64 block
        _with_model((0.5,)),  # other shapes than the first
        replace(_with_model(float32_h), model=replace(regular.model, top_buckets=())),
        _fold([event(t * 86_400.0) for t in (0, 1, 5)]),  # no model
        replace(_fold([event(0.0)]), decayed=()),
        UserState(),
        UserState(last_offset=4, first_event_seconds=0.0, last_event_seconds=0.0),
    ]


def test_a_batch_is_written_byte_for_byte_as_each_user_alone() -> None:
    states = _states()
    for shapes in (None, ModelShapes(4, 4, 2, 2, 2), ModelShapes(1, 1, 2, 2, 2)):
        columns = columns_of(list(states), shapes)
        rows = np.arange(len(states))
        assert encode_columns(columns, rows) == [encode_state(s) for s in states]
        assert [columns.state(i) for i in rows] == states


def test_a_batch_reads_back_the_states_of_every_format_and_none() -> None:
    states = _states()
    values: list[bytes | None] = [encode_state(s) for s in states]
    values += [None, FORMAT_3_STATE, FORMAT_4_STATE, FORMAT_5_STATE]
    expected = [*states, None, *(decode_state(v) for v in values[-3:])]
    for shapes in (None, ModelShapes(4, 4, 2, 2, 2), ModelShapes(0, 0, 0, 0, 0)):
        columns = decode_columns(values, shapes)
        assert [columns.state(i) for i in range(len(values))] == expected
        present = np.flatnonzero(columns.present)
        again = encode_columns(columns, present)
        assert again == [encode_state(s) for s in expected if s is not None]


def test_a_batch_with_one_bad_value_is_refused_with_a_clear_error() -> None:
    good = encode_state(_states()[0])
    for bad in (good[:-1], good + b"\x00", good[:20]):
        with pytest.raises(ValueError, match="user state"):
            decode_columns([good, bad])
