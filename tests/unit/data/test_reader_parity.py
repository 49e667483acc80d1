"""One reader per source: the worker's path and the training path see the same events.

A real slice goes through the worker (`EventPipeline`, the committed ONNX model, the table state)
and through training's columns (`read_log` → `encode_log` → `score`); features and state must be
identical, scores equal to float rounding of the batched ONNX steps.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from export.dataset import encode_log
from stream_app.data.eventlogs import read_log
from stream_app.data.sources import DATASETS, load_events
from stream_app.events.schema import EVENT_TYPES, EventType
from stream_app.model.covariates import covariates, history_of_log, history_of_states
from stream_app.model.features import encode_events, spend_deltas
from stream_app.model.heads import previous_event
from stream_app.model.runtime import ModelRuntime
from stream_app.model.scoring import score
from stream_app.schedule.levels import probability_after_silence
from stream_app.state import UserState, apply_event, decode_state
from stream_app.worker.metrics import Metrics
from stream_app.worker.serving import ServingModel
from tests.conftest import FIXTURES
from tests.offline_model import STEP_GRAPH
from tests.unit.worker.test_pipeline_model import messages, pipeline

SAMPLE = FIXTURES / "online_retail_sample.csv"


def test_cancellation_is_a_positive_refund_everywhere() -> None:
    events = list(load_events(str(SAMPLE)))
    cancels = [e for e in events if e.type is EventType.CANCEL]
    assert cancels and all((e.price or 0.0) > 0 for e in cancels)
    log = read_log(SAMPLE)
    is_cancel = log.event_type == EVENT_TYPES.index(EventType.CANCEL)
    assert (log.price[is_cancel] > 0).all()
    assert (spend_deltas(log.event_type, log.price)[is_cancel] < 0).all()


def _source_path(source: str, request: pytest.FixtureRequest) -> Path:
    if source == "fixture":
        return SAMPLE
    shared: Path = request.getfixturevalue("shared_data")
    return shared / DATASETS[source].relative_path


@pytest.mark.parametrize("source", ["fixture", "taobao-814", "tmall-709"])
def test_worker_features_and_state_equal_training_columns(
    source: str, request: pytest.FixtureRequest
) -> None:
    path = _source_path(source, request)
    events = list(load_events(str(path)))
    users = sorted({e.user_id for e in events})[:150]
    events = [e for e in events if e.user_id in set(users)]  # worker order: by time
    full = read_log(path)
    enc = encode_log(full.take(np.isin(full.user_id, users)))
    row_of = {str(u): int(enc.starts[i]) for i, u in enumerate(enc.users)}
    states: dict[str, UserState] = {}
    for offset, event in enumerate(events):
        before = states.get(event.user_id)
        i = row_of[event.user_id] + (0 if before is None else before.events_total)
        one = encode_events([event], [previous_event(before)])
        assert (one.event_type[0], one.category_bucket[0]) == (
            enc.event_type[i],
            enc.category_bucket[i],
        )
        np.testing.assert_array_equal(one.numeric[0], enc.numeric[i])
        states[event.user_id], _ = apply_event(before, event, offset, 20)
    deltas = spend_deltas(enc.log.event_type, enc.log.price)
    for row, user in enumerate(enc.users):
        a, b = int(enc.starts[row]), int(enc.starts[row + 1])
        state = states[str(user)]
        assert state.events_total == b - a
        assert state.first_event_seconds == enc.log.ts_seconds[a]
        assert state.last_event_seconds == enc.log.ts_seconds[b - 1]
        assert state.spend_total == float(np.cumsum(deltas[a:b])[-1])
    online = history_of_states([states[str(u)] for u in enc.users])
    offline = history_of_log(enc.log.ts_seconds, enc.log.event_type, deltas, enc.starts)
    tau = np.linspace(0.0, 400.0, len(enc.users))  # the head's covariates, at any silence
    np.testing.assert_allclose(
        covariates(online, tau), covariates(offline, tau), rtol=1e-9, atol=1e-9
    )


@pytest.mark.skipif(not STEP_GRAPH.exists(), reason="no committed model in models/")
async def test_worker_scores_equal_score_command() -> None:
    events = list(load_events(str(SAMPLE)))
    model = ServingModel(STEP_GRAPH, Metrics(), prefer_cuda=False)
    model.load()
    store: dict[bytes, bytes] = {}
    await pipeline(store, model).handle_batch(messages(events))
    cutoff = max(e.ts_seconds for e in events) + 86_400.0
    scores = score(ModelRuntime(STEP_GRAPH, prefer_cuda=False), read_log(SAMPLE), cutoff)
    assert sorted(map(str, scores.user_id)) == sorted({e.user_id for e in events})
    worst = 0.0
    for user, p_offline in zip(scores.user_id, scores.p_return, strict=True):
        state = decode_state(store[str(user).encode()])
        assert state.model is not None and state.last_event_seconds is not None
        silent = cutoff - state.last_event_seconds
        worst = max(worst, abs(probability_after_silence(state, model.decay, silent) - p_offline))
    assert worst < 1e-6, worst
