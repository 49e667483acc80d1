"""One typed bundle of Prometheus metrics. Labels are small fixed sets, never user ids.

Every metric is documented in deploy/README.md, "Metrics reference"; `deploy/` dashboards and
alert rules may only name metrics defined here (a test reads both).
"""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    ProcessCollector,
)
from prometheus_client.gc_collector import GCCollector

from stream_app.events.decode import RejectReason
from stream_app.events.schema import EventType
from stream_app.policy.decide import SkipReason
from stream_app.policy.records import ActionKind
from stream_app.state import UpdateOutcome
from stream_app.worker.outcome_totals import OutcomeCollector, OutcomeTotals

LATENCY_BUCKETS_SECONDS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
)
BATCH_SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048)


class Metrics:
    """The worker's metrics on their own registry (one per app, so tests can have many)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        ProcessCollector(registry=r)  # process_resident_memory_bytes, process_cpu_seconds_total, …
        GCCollector(registry=r)
        #: Outcomes of the alerts as predictions, summed from the user states held.
        self.outcome_totals = OutcomeTotals()
        r.register(OutcomeCollector(self.outcome_totals))
        self.calibration_intercept_shift = Gauge(
            "decay_calibration_intercept_shift",
            "Shift added online to the model's calibration intercept (logit; 0 = as trained)",
            registry=r,
        )
        self._event_metrics(r)
        self._model_metrics(r)
        self._alert_metrics(r)
        self._health_metrics(r)
        self._lag_partitions: set[int] = set()
        self._start_series()

    def _event_metrics(self, r: CollectorRegistry) -> None:
        """Events consumed, refused, repeated; lag and users."""
        self.events_consumed_total = Counter(
            "decay_events_consumed_total",
            "Valid events applied to user state, by event type.",
            ["type"],
            registry=r,
        )
        self.events_rejected_total = Counter(
            "decay_events_rejected_total",
            "Events refused by validation, by reason.",
            ["reason"],
            registry=r,
        )
        self.events_duplicate_total = Counter(
            "decay_events_duplicate_total",
            "Events recognised as already applied (redelivery or a repeated event_id), by kind.",
            ["kind"],
            registry=r,
        )
        self.dead_letter_messages_total = Counter(
            "decay_dead_letter_messages_total",
            "Messages written to the dead-letter topic.",
            registry=r,
        )
        self.event_failures_total = Counter(
            "decay_event_failures_total",
            "Unexpected errors while processing one event (it goes to the dead-letter topic).",
            registry=r,
        )
        self.users_tracked = Gauge(
            "decay_users_tracked", "Users with state in this worker's table partitions.", registry=r
        )
        self.event_time_lag_seconds = Gauge(
            "decay_event_time_lag_seconds",
            "Now minus the event time of the last event processed (large during a replay of old data).",
            registry=r,
        )
        self.consumer_lag_messages = Gauge(
            "decay_consumer_lag_messages",
            "Messages of the events topic not yet processed, per assigned partition.",
            ["partition"],
            registry=r,
        )

    def _model_metrics(self, r: CollectorRegistry) -> None:
        """The model's steps, provider and reloads."""
        self.model_step_seconds = Histogram(
            "decay_model_step_seconds",
            "Wall time of one batched model step (all events of the batch).",
            buckets=LATENCY_BUCKETS_SECONDS,
            registry=r,
        )
        self.model_batch_size = Histogram(
            "decay_model_batch_size",
            "Events per batched model step.",
            buckets=BATCH_SIZE_BUCKETS,
            registry=r,
        )
        self.model_provider = Gauge(
            "decay_model_provider",
            "1 for the ONNX Runtime execution provider in use (CUDAExecutionProvider or CPUExecutionProvider).",
            ["provider"],
            registry=r,
        )
        self.model_gpu_fallback = Gauge(
            "decay_model_gpu_fallback",
            "1 when CUDA was requested but the model runs on the CPU.",
            registry=r,
        )
        self.model_info = Info(
            "decay_model", "The model serving alerts: version and horizon.", registry=r
        )
        self.model_reloads_total = Counter(
            "decay_model_reloads_total",
            "Model artifacts loaded after start-up, by outcome.",
            ["outcome"],
            registry=r,
        )

    def _alert_metrics(self, r: CollectorRegistry) -> None:
        """Alerts, actions, ticks and the schedule."""
        self.alerts_total = Counter(
            "decay_alerts_total", "Decay alerts published, by level.", ["level"], registry=r
        )
        self.actions_total = Counter(
            "decay_actions_total",
            "Activation actions published, by kind and control group (control=true: held out).",
            ["kind", "control"],
            registry=r,
        )
        self.actions_deferred_total = Counter(
            "decay_actions_deferred_total",
            "Actions decided in quiet hours and published with deliver_after (the window's end), by kind and control group.",
            ["kind", "control"],
            registry=r,
        )
        self.actions_skipped_total = Counter(
            "decay_actions_skipped_total",
            "Actions the policy asked for but a gate stopped, by kind and gate.",
            ["kind", "reason"],
            registry=r,
        )
        self.ticks_total = Counter(
            "decay_ticks_total",
            "Due-time ticks handled, by outcome (alerted, stale, not_due).",
            ["outcome"],
            registry=r,
        )
        self.alert_delay_seconds = Histogram(
            "decay_alert_delay_seconds",
            "Time from an alert's computed due time to its publication (clock seconds).",
            buckets=(0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0),
            registry=r,
        )
        self.schedule_size = Gauge(
            "decay_schedule_size",
            "Due alert times scheduled on this worker's partitions.",
            registry=r,
        )

    def _health_metrics(self, r: CollectorRegistry) -> None:
        """Broker connection and partition progress."""
        self.kafka_connection_lost_total = Counter(
            "decay_kafka_connection_lost_total",
            "Times the connection to Kafka was lost (logged once each; see the log for when it came back).",
            registry=r,
        )
        self.partition_stalls_total = Counter(
            "decay_partition_stalls_total",
            "Times a partition made no progress while messages waited on it (see /health/ready).",
            registry=r,
        )

    def set_consumer_lag(self, lags: Mapping[int, int]) -> None:
        """Set the lag of each partition in `lags`; remove the series of every other partition.

        A revoked partition's last value would otherwise stay on this worker's page, and a sum
        over workers would count the same partition twice after a rebalance.
        """
        for partition in self._lag_partitions - lags.keys():
            self.consumer_lag_messages.remove(str(partition))
        for partition, lag in lags.items():
            self.consumer_lag_messages.labels(str(partition)).set(lag)
        self._lag_partitions = set(lags)

    def _start_series(self) -> None:
        """Create the known label values at zero so `increase()` sees their first increment."""
        for reason in RejectReason:
            self.events_rejected_total.labels(reason.value)
        for outcome in ("loaded", "failed"):
            self.model_reloads_total.labels(outcome)
        for level in ("warning", "at_risk", "critical"):
            self.alerts_total.labels(level)
        for outcome in ("alerted", "stale", "not_due", "failed"):
            self.ticks_total.labels(outcome)
        for event_type in EventType:
            self.events_consumed_total.labels(event_type.value)
        for outcome in UpdateOutcome:
            if outcome is not UpdateOutcome.APPLIED:
                self.events_duplicate_total.labels(outcome.value)
        for kind in ActionKind:
            for control in ("true", "false"):
                self.actions_total.labels(kind.value, control)
                self.actions_deferred_total.labels(kind.value, control)
            for skip in SkipReason:
                self.actions_skipped_total.labels(kind.value, skip.value)
