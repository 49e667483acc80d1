"""Every labelled counter the dashboard and alert rules use is served from start-up, at zero."""

from __future__ import annotations

import pytest

from stream_app.events.schema import EventType
from stream_app.settings import Settings
from tests.integration.support import WorkerFactory

pytestmark = pytest.mark.integration


def test_labelled_counters_exist_before_the_first_event(
    settings: Settings, workers: WorkerFactory
) -> None:
    worker = workers.start(settings)
    lines = set(worker.http_get("/metrics").splitlines())
    expected = [f'decay_events_consumed_total{{type="{t.value}"}} 0.0' for t in EventType] + [
        'decay_events_duplicate_total{kind="duplicate_offset"} 0.0',
        'decay_events_duplicate_total{kind="duplicate_event_id"} 0.0',
        'decay_events_rejected_total{reason="payload_too_large"} 0.0',
        'decay_alerts_total{level="critical"} 0.0',
        'decay_actions_total{control="true",kind="coupon"} 0.0',
        'decay_actions_skipped_total{kind="push",reason="budget"} 0.0',
        "decay_kafka_connection_lost_total 0.0",
        "decay_partition_stalls_total 0.0",
    ]
    assert [line for line in expected if line not in lines] == []
