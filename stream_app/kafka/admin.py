"""Admin look-ups the commands make before they start: a topic's config, its partition leaders."""

from __future__ import annotations

import contextlib
import time
from typing import Any

from kafka.admin import ConfigResource, ConfigResourceType
from kafka.errors import KafkaError

from stream_app.kafka.clients import new_admin


def topic_config_value(
    bootstrap: str, topic: str, name: str, client_config: dict[str, object] | None = None
) -> str | None:
    """The effective value of config `name` of `topic` (its own or the broker's default)."""
    admin = new_admin(bootstrap, client_config)
    try:
        described: Any = admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, topic)], config_filter="all"
        )
    finally:
        admin.close()
    return config_entry(described, topic, name)


def config_entry(described: Any, topic: str, name: str) -> str | None:
    """`name` from kafka-python's describe_configs answer (dict by type, topic and key)."""
    for by_name in described.values() if isinstance(described, dict) else ():
        entry = by_name.get(topic, {}).get(name)
        if isinstance(entry, dict):
            value = entry.get("value")
            return None if value is None else str(value)
        if entry is not None:
            return str(entry)
    return None


def wait_for_leaders(
    bootstrap: str,
    topic: str,
    partitions: int,
    client_config: dict[str, object] | None = None,
    timeout_seconds: float = 30.0,
) -> bool:
    """Wait until every partition of a new topic has a leader (no NotLeader retries after)."""
    admin = new_admin(bootstrap, client_config)
    try:
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            with contextlib.suppress(KafkaError):
                if leaders_known(admin.describe_topics([topic]), partitions):
                    return True
            time.sleep(0.1)
        return False
    finally:
        admin.close()


def leaders_known(described: Any, partitions: int) -> bool:
    """True when kafka-python's describe_topics answer names a leader for every partition."""
    for topic in described or ():
        found = topic.get("partitions") or []
        leaders = [p.get("leader", p.get("leader_id", -1)) for p in found]
        return len(found) >= partitions and all(
            leader is not None and leader >= 0 for leader in leaders
        )
    return False
