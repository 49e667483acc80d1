"""Topic names and configs, the changelog topic's name: spelled once, read by every command.

Every topic has `settings.partitions` partitions, so that a user's events, state, ticks, alerts
and actions live on the same partition number.
"""

from __future__ import annotations

from stream_app.settings import Settings

#: Name of the Faust table of per-user states (its changelog topic follows from it).
USER_STATE_TABLE = "user-state"


def changelog_topic(app_id: str) -> str:
    """The Kafka topic that backs the user-state table (Faust's naming)."""
    return f"{app_id}-{USER_STATE_TABLE}-changelog"


def dead_letter_config(settings: Settings) -> dict[str, str]:
    """Topic config of the dead-letter topic: room for a rejected payload and its headers."""
    return {"max.message.bytes": str(settings.dead_letter_max_bytes)}


def topic_specs(settings: Settings) -> dict[str, dict[str, str]]:
    """Topics the worker reads or writes that it does not own (created before it starts)."""
    return {
        settings.events_topic: {},
        settings.dead_letter_topic: dead_letter_config(settings),
        settings.alerts_topic: {},
        settings.actions_topic: {},
        settings.control_actions_topic: {},
        settings.ticks_topic: {},
    }


def topic_alias(settings: Settings, name: str) -> str:
    """`alerts`, `actions`, `control`, `dlq` or `events` as the configured topic; any other
    name as is."""
    aliases = {
        "alerts": settings.alerts_topic,
        "actions": settings.actions_topic,
        "control": settings.control_actions_topic,
        "dlq": settings.dead_letter_topic,
        "events": settings.events_topic,
    }
    return aliases.get(name, name)
