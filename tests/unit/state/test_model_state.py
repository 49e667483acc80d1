"""The model state as rows of arrays: views of the step's output and of the stored bytes."""

from __future__ import annotations

import numpy as np

from stream_app.model.heads import model_states
from stream_app.model.runtime import StepOutput, TopOutput
from stream_app.state import UserState, decode_state, encode_state
from stream_app.state.model_state import ModelState, TopBuckets, top_buckets_of


def step_output(
    rows: int = 3, hidden: int = 4, components: int = 2, buckets: int = 64
) -> tuple[StepOutput, TopOutput]:
    rng = np.random.default_rng(7)
    f32 = np.float32

    def draw(*shape: int) -> np.ndarray:
        return rng.random(shape, dtype=f32)

    pi = draw(rows, components, buckets)
    top = np.argsort(-pi, axis=-1, kind="stable")[..., :8]
    return StepOutput(
        draw(rows, hidden), draw(rows, hidden), draw(rows, components), draw(rows, components),
        draw(rows, components),
    ), TopOutput(np.take_along_axis(pi, top, axis=-1), top)  # fmt: skip


def test_a_step_gives_rows_of_its_arrays_and_they_round_trip_through_the_codec() -> None:
    out, top = step_output()
    states = model_states("v1", out, top)
    assert [s.h.base is not None for s in states] == [True] * 3  # type: ignore[union-attr]
    for row, model in enumerate(states):
        assert np.array_equal(model.c, out.c[row])
        pairs = model.top_buckets[0]
        assert pairs[0] == (int(top.ids[row, 0, 0]), float(top.weights[row, 0, 0]))
        assert len(pairs) == 8
        value = encode_state(UserState(events_total=1, model=model))
        decoded = decode_state(value).model
        assert decoded == model and isinstance(decoded, ModelState)
        assert value[3] == 4  # the model's float32 numbers are written as float32


def test_tuples_and_arrays_of_the_same_numbers_are_equal_and_encode_alike() -> None:
    pairs = (((5, 0.5), (7, 0.25)), ((9, 1.0),))  # components may keep different counts
    as_tuples = ModelState("v", (0.5,), (0.25,), (0.0625, 0.375), (1.0, 0.5), (2.0, 0.125), pairs)
    as_arrays = ModelState(
        "v", *(np.asarray(r, np.float32) for r in as_tuples.rows()), top_buckets_of(pairs)
    )
    assert as_tuples == as_arrays and hash(as_tuples) == hash(as_arrays)
    assert as_tuples != ModelState(
        "v", (0.5,), (0.25,), (0.0625, 0.375), (1.0, 0.5), (2.0, 0.5), pairs
    )
    encoded = encode_state(UserState(model=as_tuples))
    assert encoded == encode_state(UserState(model=as_arrays))
    back = decode_state(encoded).model
    assert back is not None and isinstance(back.top_buckets, TopBuckets)
    assert tuple(back.top_buckets) == pairs


def test_numbers_a_float32_cannot_hold_keep_their_float64() -> None:
    model = ModelState("v", (0.1,), (0.2,), (1e-300,), (1.0,), (2.0,))
    back = decode_state(encode_state(UserState(model=model))).model
    assert back == model and np.asarray(back.mu).dtype == np.float64  # type: ignore[union-attr]
