"""The worker's metrics: every labelled counter exists from start-up with its known labels (a
first increase is seen), and series of revoked partitions do not outlive the assignment."""

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


def lag_series(metrics: Metrics) -> dict[str, float]:
    """`partition` → value of every decay_consumer_lag_messages sample on the page."""
    return {
        sample.labels["partition"]: sample.value
        for family in metrics.registry.collect()
        if family.name == "decay_consumer_lag_messages"
        for sample in family.samples
    }


def test_lag_of_a_revoked_partition_is_removed() -> None:
    metrics = Metrics()
    metrics.set_consumer_lag({0: 5, 1: 7, 2: 0})
    assert lag_series(metrics) == {"0": 5.0, "1": 7.0, "2": 0.0}

    metrics.set_consumer_lag({1: 3, 3: 9})  # 0 and 2 revoked, 3 assigned

    assert lag_series(metrics) == {"1": 3.0, "3": 9.0}
    assert b'partition="0"' not in generate_latest(metrics.registry)


def test_no_assignment_leaves_no_lag_series() -> None:
    metrics = Metrics()
    metrics.set_consumer_lag({4: 1})
    metrics.set_consumer_lag({})
    assert lag_series(metrics) == {}
