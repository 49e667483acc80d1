"""The due-time search against the one it replaced, on model states of real users.

The committed model steps through real events (a retail slice with long histories and a Taobao
slice of mostly new users); the crossings of every level are searched by `crossing_days` and by
the former search (7 rounds of 8 points in each grid bracket), kept here as the reference.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from itertools import islice
from pathlib import Path

import numpy as np
import pytest

from stream_app.clock import SECONDS_PER_DAY, AcceleratedClock
from stream_app.data.sources import load_events
from stream_app.events.dead_letter import DeadLetter
from stream_app.events.decode import DecodeLimits
from stream_app.events.partitioning import partition_for_key
from stream_app.schedule.levels import (
    TAU_GRID_DAYS,
    AlertLevel,
    DecayModel,
    Heads,
    Thresholds,
    crossing_days,
)
from stream_app.state import UserState, decode_state
from stream_app.worker.metrics import Metrics
from stream_app.worker.pipeline import EventPipeline, RawMessage, SourcePosition
from stream_app.worker.serving import ServingModel
from tests.conftest import FIXTURES
from tests.offline_model import STEP_GRAPH

pytestmark = pytest.mark.skipif(not STEP_GRAPH.exists(), reason="no committed model in models/")
PARTITIONS = 4
TAOBAO_EVENTS = 1_500
BATCH = 116
RATIOS = [Thresholds().of(level) for level in AlertLevel]
#: The stated tolerance: 1 s (the schedule's tick) plus 5e-7 of the silence. The former search
#: itself ended up to 0.389·τ/8⁷ ≈ 1.9e-7·τ after the true crossing (4 s at τ = 250 days).
TOLERANCE_SECONDS = 1.0
TOLERANCE_OF_SILENCE = 5e-7


def reference_crossing_days(
    states: Sequence[UserState], decay: DecayModel, rounds: int = 7, points: int = 8
) -> np.ndarray:
    """`crossing_days` as it was: the same grid, then `rounds` cuts of each bracket into
    `points` parts, the first part that reaches the target kept each time."""
    heads = Heads.of_states(states, decay)
    n, size = len(states), TAU_GRID_DAYS.size
    rows = np.arange(n)
    p = heads.probability(rows, np.broadcast_to(TAU_GRID_DAYS, (n, size)))
    peak_at = p.argmax(axis=-1)
    targets = np.asarray(RATIOS)[None, :] * p[rows, peak_at][:, None]
    after_peak = (np.arange(size)[None, :] > peak_at[:, None])[:, None, :]
    below = after_peak & (p[:, None, :] <= targets[:, :, None])
    user, level = np.nonzero(below.any(axis=-1))
    j = below.argmax(axis=-1)[user, level]
    lo, hi, target = TAU_GRID_DAYS[j - 1], TAU_GRID_DAYS[j], targets[user, level]
    steps = np.arange(1, points + 1) / points
    picked = np.arange(user.size)
    for _ in range(rounds):
        cut = lo[:, None] + (hi - lo)[:, None] * steps[None, :]
        first = (heads.probability(user, cut) <= target[:, None]).argmax(axis=-1)
        lo, hi = np.where(first > 0, cut[picked, first - 1], lo), cut[picked, first]
    out = np.full((n, len(RATIOS)), np.nan)
    out[user, level] = hi
    return out


def raw_messages(events: list) -> list[RawMessage]:
    offsets = dict.fromkeys(range(PARTITIONS), 0)
    out = []
    for event in events:
        key = event.user_id.encode()
        partition = partition_for_key(key, PARTITIONS)
        value = json.dumps(event.to_json_dict()).encode()
        out.append(RawMessage(key, value, SourcePosition("ev", partition, offsets[partition])))
        offsets[partition] += 1
    return out


@pytest.fixture(scope="module")
async def real_states(shared_data: Path) -> tuple[list[UserState], DecayModel]:
    """States of every user of the two slices after the committed model stepped through them."""
    model = ServingModel(STEP_GRAPH, Metrics(), prefer_cuda=False)
    model.load()
    states: list[UserState] = []
    retail = list(load_events(str(FIXTURES / "online_retail_sample.csv")))
    taobao = list(islice(load_events("taobao-slice", shared_data), TAOBAO_EVENTS))
    for events in (retail, taobao):
        store: dict[bytes, bytes] = {}

        async def sink(letter: DeadLetter) -> None:
            raise AssertionError(f"unexpected dead letter {letter.reason}: {letter.detail}")

        pipeline = EventPipeline(
            store=store,
            dead_letters=sink,
            clock=AcceleratedClock(max(e.ts_seconds for e in events)),
            metrics=model.metrics,
            limits=DecodeLimits(now_seconds=0.0),
            sequence_length=20,
            partitions=PARTITIONS,
            model=model,
        )
        messages = raw_messages(events)
        for i in range(0, len(messages), BATCH):
            await pipeline.handle_batch(messages[i : i + BATCH])
        states += [decode_state(value) for value in store.values()]
    model.close()
    assert model.decay is not None
    return [s for s in states if s.model is not None], model.decay


def in_batches(states: list[UserState], search, decay: DecayModel) -> np.ndarray:
    return np.concatenate(
        [search(states[i : i + BATCH], decay) for i in range(0, len(states), BATCH)]
    )


def test_due_times_equal_the_former_search_within_the_tolerance(
    real_states: tuple[list[UserState], DecayModel],
) -> None:
    states, decay = real_states
    assert len(states) >= 1000
    new = in_batches(states, lambda s, d: crossing_days(s, d, RATIOS), decay)
    old = in_batches(states, reference_crossing_days, decay)
    assert np.array_equal(np.isnan(new), np.isnan(old))
    found = ~np.isnan(old)
    assert found.sum() >= 0.9 * found.size
    seconds_off = np.abs(new - old)[found] * SECONDS_PER_DAY
    allowed = TOLERANCE_SECONDS + TOLERANCE_OF_SILENCE * old[found] * SECONDS_PER_DAY
    assert (seconds_off <= allowed).all(), seconds_off.max()


def test_the_search_is_closer_to_the_crossing_than_the_former_one(
    real_states: tuple[list[UserState], DecayModel],
) -> None:
    states, decay = real_states
    exact = in_batches(states, lambda s, d: reference_crossing_days(s, d, rounds=12), decay)
    found = ~np.isnan(exact)
    new = in_batches(states, lambda s, d: crossing_days(s, d, RATIOS), decay)
    old = in_batches(states, reference_crossing_days, decay)
    new_off, old_off = (np.abs(x - exact)[found] * SECONDS_PER_DAY for x in (new, old))
    assert np.percentile(new_off, 99) <= np.percentile(old_off, 99)
    assert (
        new_off.max()
        <= TOLERANCE_SECONDS + TOLERANCE_OF_SILENCE * exact[found].max() * SECONDS_PER_DAY
    )


def test_a_users_crossings_do_not_depend_on_the_batch(
    real_states: tuple[list[UserState], DecayModel],
) -> None:
    states, decay = real_states
    some = states[:: max(len(states) // 150, 1)]
    batch = crossing_days(some, decay, RATIOS)
    alone = np.array([crossing_days([s], decay, RATIOS)[0] for s in some])
    assert np.array_equal(batch, alone, equal_nan=True)
