"""Worker vs offline: the state in the table equals the whole-sequence graph on the same events."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from stream_app.data.sources import load_events
from stream_app.events.schema import Event
from stream_app.model.covariates import covariates, history_of_states
from stream_app.model.survival import return_probability
from stream_app.schedule.levels import probability_after_silence
from stream_app.settings import Settings
from tests.integration.support import WorkerFactory, decay_model, replay_and_wait, table
from tests.offline_model import STEP_GRAPH, SequenceGraph

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not STEP_GRAPH.exists(), reason="no committed model in models/"),
]


def test_table_state_matches_the_sequence_graph(
    settings: Settings, workers: WorkerFactory, shared_data: Path
) -> None:
    events = list(load_events("taobao-slice", shared_data))[:5_000]
    end = max(e.ts_seconds for e in events)
    settings = settings.model_copy(update={"clock_start_seconds": end, "clock_factor": 1.0})
    workers.start(settings)
    assert settings.bootstrap_servers
    replay_and_wait(settings, events)
    states = table(settings)

    by_user: dict[str, list[Event]] = {}
    for event in events:
        by_user.setdefault(event.user_id, []).append(event)
    assert set(states) == set(by_user)
    graph, decay = SequenceGraph(), decay_model()
    worst = {name: 0.0 for name in ("h", "c", "mu", "alpha", "beta", "p_return")}
    for user, user_events in by_user.items():
        stored = states[user].model
        assert stored is not None
        offline = graph.final_state(user_events)
        for name in ("h", "c", "mu", "alpha", "beta"):
            worst[name] = max(
                worst[name],
                float(np.max(np.abs(np.array(getattr(stored, name)) - getattr(offline, name)))),
            )
        for silent_days in (0.0, 3.0, 30.0):
            online_p = probability_after_silence(states[user], decay, silent_days * 86_400)
            x = covariates(history_of_states([states[user]]), np.array([silent_days]))[0]
            offline_p = float(
                return_probability(
                    offline.mu,
                    offline.alpha,
                    offline.beta,
                    silent_days,
                    decay.horizon_days,
                    decay.calibration,
                    decay.shape(),
                    x,
                )
            )
            worst["p_return"] = max(worst["p_return"], abs(online_p - offline_p))
    assert max(len(v) for v in by_user.values()) >= 5
    assert all(diff < 1e-4 for diff in worst.values()), worst
