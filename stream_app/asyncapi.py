"""The AsyncAPI 3.0 document of every topic, generated from the schemas and the topology.

`python -m stream_app.asyncapi > docs/asyncapi.json` writes it (`make asyncapi`); a test keeps
the committed file equal to the generated one and validates it against the AsyncAPI 3.0 schema.
Topic names and partition counts are those of the given settings (the defaults for the file).
"""

from __future__ import annotations

import json
from typing import Any

from stream_app import __version__
from stream_app.contracts import Contract, contracts
from stream_app.events.dead_letter import DEAD_LETTER_SCHEMA_VERSION
from stream_app.settings import Settings
from stream_app.topology import changelog_topic

SCHEMA_FORMAT = "application/schema+json;version=draft-2020-12"
KAFKA_BINDING = "0.5.0"
#: channel id → (what the worker does with it, the summary); the payload comes from its contract.
PUBLIC = {
    "events": ("receive", "Events in: one user interaction per message, keyed by user_id."),
    "alerts": ("send", "Alerts out: a user's interest has decayed relative to their normal."),
    "actions": ("send", "Activation actions out, to be acted upon (`control` is always false)."),
    "control": (
        "send",
        "Control-group records (`control: true`): held-out users' decisions, NOT taken and NOT"
        " to be acted upon; read them with the actions to measure uplift.",
    ),
}
DEAD_LETTER_HEADERS = {
    "dlq.reason": "why the event was refused (missing_field, invalid_json, wrong_partition, …)",
    "dlq.detail": "the reason in words",
    "dlq.source.topic": "topic the event was read from",
    "dlq.source.partition": "its partition",
    "dlq.source.offset": "its offset",
    "dlq.rejected_at": "Unix seconds of the refusal",
    "dlq.schema_version": f"version of this header set ({DEAD_LETTER_SCHEMA_VERSION})",
    "dlq.truncated": "key and/or value when the original was cut to fit the topic",
}


def user_key() -> dict[str, Any]:
    """The Kafka key of every record: the user id, UTF-8."""
    return {"type": "string", "description": "user_id (UTF-8); the partition follows from it"}


def channel(topic: str, settings: Settings, description: str) -> dict[str, Any]:
    """A channel for a topic, with its Kafka binding (partitions, replicas)."""
    return {
        "address": topic,
        "description": description,
        "bindings": {
            "kafka": {
                "topic": topic,
                "partitions": settings.partitions,
                "replicas": settings.replication_factor,
                "bindingVersion": KAFKA_BINDING,
            }
        },
    }


def contract_message(contract: Contract) -> dict[str, Any]:
    """A message whose payload is the topic's committed JSON Schema."""
    schema = json.loads(contract.schema_text())
    return {
        "name": contract.schema_file.removesuffix(".json"),
        "title": schema.get("title", contract.schema_file),
        "contentType": "application/json",
        "payload": {"schemaFormat": SCHEMA_FORMAT, "schema": schema},
        "bindings": {"kafka": {"key": user_key(), "bindingVersion": KAFKA_BINDING}},
    }


def internal_channels(settings: Settings) -> dict[str, dict[str, Any]]:
    """The dead-letter topic and the worker's own topics (ticks, the table changelog)."""
    headers = {
        "type": "object",
        "properties": {name: {"type": "string", "description": d} for name, d in DEAD_LETTER_HEADERS.items()},
        "required": ["dlq.reason", "dlq.source.topic", "dlq.source.partition", "dlq.source.offset"],
    }  # fmt: skip
    raw = {"type": "string", "contentEncoding": "binary"}
    internal = "Internal to the workers: no contract, do not read or write it."
    return {
        "deadLetters": channel(
            settings.dead_letter_topic, settings,
            "Refused events, byte for byte as they came, with why and where in headers.",
        ) | {"messages": {"deadLetter": {
            "name": "dead-letter",
            "contentType": "application/octet-stream",
            "headers": {"schemaFormat": SCHEMA_FORMAT, "schema": headers},
            "payload": {"schemaFormat": SCHEMA_FORMAT, "schema": raw},
        }}},
        "ticks": channel(settings.ticks_topic, settings, f"Due-time ticks. {internal}")
        | {"messages": {"tick": {"name": "tick", "payload": raw}}},
        "userState": channel(
            changelog_topic(settings.app_id), settings, f"The user-state table's changelog. {internal}"
        ) | {"messages": {"userState": {"name": "user-state", "payload": raw}}},
    }  # fmt: skip


def asyncapi(settings: Settings) -> dict[str, Any]:
    """The document: a channel per topic, an operation per direction the worker uses it."""
    by_topic = {c.topic: c for c in contracts(settings)}
    topics = {
        "events": settings.events_topic,
        "alerts": settings.alerts_topic,
        "actions": settings.actions_topic,
        "control": settings.control_actions_topic,
    }
    channels: dict[str, dict[str, Any]] = {}
    operations: dict[str, dict[str, Any]] = {}
    for name, (action, summary) in PUBLIC.items():
        contract = by_topic[topics[name]]
        message_id = contract.schema_file.removesuffix(".json").replace(".", "_")
        channels[name] = channel(contract.topic, settings, summary) | {
            "messages": {message_id: contract_message(contract)}
        }
        operations[f"{action}{name.capitalize()}"] = {
            "action": action,
            "channel": {"$ref": f"#/channels/{name}"},
            "summary": summary,
            "messages": [{"$ref": f"#/channels/{name}/messages/{message_id}"}],
        }
    channels |= internal_channels(settings)
    for name in ("deadLetters", "ticks", "userState"):
        (message_id,) = channels[name]["messages"]
        operations[f"send{name[0].upper()}{name[1:]}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{name}"},
            "messages": [{"$ref": f"#/channels/{name}/messages/{message_id}"}],
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "decay-stream",
            "version": __version__,
            "description": "The topics of a decay-stream worker group (app id "
            f"`{settings.app_id}`): what producers write, what the workers publish, and the "
            "workers' own topics. Every topic has the same partition count; a user's records "
            "are on the same partition number in all of them.",
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
    }


def main() -> int:
    """Print the document for the default settings as JSON."""
    defaults = Settings.model_construct()  # the defaults, whatever the environment says
    print(json.dumps(asyncapi(defaults), indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
