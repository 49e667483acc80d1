"""The message contracts: which JSON Schema describes which topic, and how it may evolve.

Subjects follow Confluent's TopicNameStrategy (`<topic>-value`). Compatibility, as a schema
registry enforces it on every new version of a subject:

- outputs (alerts, actions) are FORWARD_TRANSITIVE: data written with a new version validates
  against every older one, so a consumer that validates with the schema it was built with keeps
  working while we add fields (the schemas are open: `additionalProperties` is allowed);
- the input (events) is BACKWARD_TRANSITIVE: the worker, the reader, upgrades first and must
  accept what producers wrote with any earlier version.

A change that breaks this (a field removed, renamed, retyped or newly required, a narrower
range or enum) is a new major version: a new schema file `<name>.v<N+1>.json`, a new
`schema_version` in the records, and the worker publishes it only after the consumers moved.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from stream_app.settings import Settings

SCHEMAS_DIR = Path(__file__).resolve().parent / "schemas"


@dataclass(frozen=True, slots=True)
class Contract:
    """One topic's value schema and the compatibility level of its subject."""

    topic: str
    schema_file: str
    compatibility: str

    @property
    def subject(self) -> str:
        """The registry subject (TopicNameStrategy)."""
        return f"{self.topic}-value"

    def schema_text(self) -> str:
        """The JSON Schema as committed."""
        return (SCHEMAS_DIR / self.schema_file).read_text()


def contracts(settings: Settings) -> list[Contract]:
    """The current schema of each topic integrators read or write."""
    return [
        Contract(settings.events_topic, "event.v1.json", "BACKWARD_TRANSITIVE"),
        Contract(settings.alerts_topic, "alert.v2.json", "FORWARD_TRANSITIVE"),
        Contract(settings.actions_topic, "action.v1.json", "FORWARD_TRANSITIVE"),
        # The control group's records: the same record, `control` always true (no action taken).
        Contract(settings.control_actions_topic, "action.v1.json", "FORWARD_TRANSITIVE"),
    ]
