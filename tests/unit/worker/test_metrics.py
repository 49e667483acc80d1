"""Every labelled counter exists from start-up with its known labels (a first increase is seen)."""

from __future__ import annotations

from prometheus_client import generate_latest

from stream_app.events.schema import EventType
from stream_app.worker.metrics import Metrics


def series() -> set[str]:
    text = generate_latest(Metrics().registry).decode()
    return {line.split(" ")[0] for line in text.splitlines() if line and not line.startswith("#")}


def test_consumed_and_duplicate_series_exist_at_start() -> None:
    found = series()
    for event_type in EventType:
        assert f'decay_events_consumed_total{{type="{event_type.value}"}}' in found
    assert 'decay_events_duplicate_total{kind="duplicate_offset"}' in found
    assert 'decay_events_duplicate_total{kind="duplicate_event_id"}' in found
    assert 'decay_events_duplicate_total{kind="applied"}' not in found


def test_action_series_exist_at_start() -> None:
    found = series()
    assert 'decay_actions_total{control="false",kind="coupon"}' in found
    assert 'decay_actions_skipped_total{kind="push",reason="quiet_hours"}' in found
    assert "decay_kafka_connection_lost_total" in found
