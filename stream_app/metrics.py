"""One typed bundle of Prometheus metrics. Labels are small fixed sets, never user ids."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class Metrics:
    """The worker's metrics, registered on their own registry (one per app, so tests can have many)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
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
            "decay_users_tracked",
            "Users with state in this worker's table partitions.",
            registry=r,
        )
