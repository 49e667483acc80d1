"""The batched pipeline with the committed ONNX model: batching never changes a user's result."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from stream_app.clock import AcceleratedClock
from stream_app.data.sources import load_events
from stream_app.events.dead_letter import DeadLetter
from stream_app.events.decode import DecodeLimits
from stream_app.events.partitioning import partition_for_key
from stream_app.events.schema import Event
from stream_app.state import decode_state
from stream_app.worker.metrics import Metrics
from stream_app.worker.pipeline import EventPipeline, RawMessage, SourcePosition
from stream_app.worker.serving import ServingModel
from tests.conftest import FIXTURES
from tests.offline_model import STEP_GRAPH, SequenceGraph

pytestmark = pytest.mark.skipif(not STEP_GRAPH.exists(), reason="no committed model in models/")
PARTITIONS = 4


def messages(events: list[Event]) -> list[RawMessage]:
    offsets = dict.fromkeys(range(PARTITIONS), 0)
    out = []
    for event in events:
        key = event.user_id.encode()
        partition = partition_for_key(key, PARTITIONS)
        out.append(
            RawMessage(
                key,
                json.dumps(event.to_json_dict()).encode(),
                SourcePosition("ev", partition, offsets[partition]),
            )
        )
        offsets[partition] += 1
    return out


def pipeline(store: dict[bytes, bytes], model: ServingModel) -> EventPipeline:
    async def sink(letter: DeadLetter) -> None:
        raise AssertionError(f"unexpected dead letter {letter.reason}: {letter.detail}")

    return EventPipeline(
        store=store,
        dead_letters=sink,
        clock=AcceleratedClock(1.4e9),
        metrics=model.metrics,
        limits=DecodeLimits(now_seconds=0.0),
        sequence_length=20,
        partitions=PARTITIONS,
        model=model,
    )


@pytest.fixture(scope="module")
def retail_events() -> list[Event]:
    return list(load_events(str(FIXTURES / "online_retail_sample.csv")))


async def test_batched_equals_one_by_one_equals_sequence_graph(
    retail_events: list[Event], tmp_path: Path
) -> None:
    model = ServingModel(STEP_GRAPH, Metrics(), prefer_cuda=False)
    model.load()
    msgs = messages(retail_events)
    batched: dict[bytes, bytes] = {}
    await pipeline(batched, model).handle_batch(msgs)  # users with many events: many rounds
    single: dict[bytes, bytes] = {}
    p = pipeline(single, model)
    for m in msgs:
        await p.handle_batch([m])
    assert batched.keys() == single.keys()
    graph = SequenceGraph()
    by_user: dict[str, list[Event]] = {}
    for e in retail_events:
        by_user.setdefault(e.user_id, []).append(e)
    assert max(len(v) for v in by_user.values()) > 3
    for key in batched:
        a, b = decode_state(batched[key]).model, decode_state(single[key]).model
        assert a is not None and b is not None
        assert np.max(np.abs(np.array(a.h) - np.array(b.h))) < 1e-5
        offline = graph.final_state(by_user[key.decode()])
        for name in ("h", "c", "mu", "alpha", "beta"):
            assert np.max(np.abs(np.array(getattr(a, name)) - getattr(offline, name))) < 1e-4, name
        assert not a.top_buckets, "π is not stored: it is read from h when an alert needs it"
        (read,) = model.with_top_buckets([decode_state(batched[key])])
        assert read.model is not None
        weights = np.array([[w for _, w in component] for component in read.model.top_buckets])
        top = -np.sort(-offline.pi, axis=-1)[:, : weights.shape[1]]
        assert np.max(np.abs(weights - top)) < 1e-4, "top π vs the sequence graph's"
    assert model.metrics.model_batch_size._sum.get() == len(retail_events) * 2


async def test_states_are_written_before_their_due_times_are_computed(
    retail_events: list[Event],
) -> None:
    """The hook runs once per batch with every state in the store and none yet scheduled, so
    the changelog can be on its way while the due times are computed."""
    model = ServingModel(STEP_GRAPH, Metrics(), prefer_cuda=False)
    model.load()
    store: dict[bytes, bytes] = {}
    p = pipeline(store, model)
    seen: list[tuple[int, int]] = []

    async def states_written() -> None:
        seen.append((len(store), len(p.schedule)))

    p.states_written = states_written
    await p.handle_batch(messages(retail_events))
    users = len({event.user_id for event in retail_events})
    assert seen == [(users, 0)]
    assert len(p.schedule) > 0
