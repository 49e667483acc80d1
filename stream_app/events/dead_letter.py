"""The dead-letter record: the original bytes as value, the reason and source in headers."""

from __future__ import annotations

from dataclasses import dataclass

DEAD_LETTER_SCHEMA_VERSION = "1"


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One refused message, kept byte for byte with why and where it came from."""

    key: bytes | None
    value: bytes | None
    reason: str
    detail: str
    source_topic: str
    source_partition: int
    source_offset: int
    rejected_at_seconds: float

    def headers(self) -> list[tuple[str, bytes]]:
        """Kafka headers carried by the dead-letter message."""
        return [
            ("dlq.reason", self.reason.encode()),
            ("dlq.detail", self.detail.encode("utf-8", "replace")),
            ("dlq.source.topic", self.source_topic.encode()),
            ("dlq.source.partition", str(self.source_partition).encode()),
            ("dlq.source.offset", str(self.source_offset).encode()),
            ("dlq.rejected_at", f"{self.rejected_at_seconds:.3f}".encode()),
            ("dlq.schema_version", DEAD_LETTER_SCHEMA_VERSION.encode()),
        ]


def parse_dead_letter_headers(headers: list[tuple[str, bytes]]) -> dict[str, str]:
    """Headers of a dead-letter message as a str dict (for `tail` and tests)."""
    return {
        name: value.decode("utf-8", "replace") for name, value in headers if name.startswith("dlq.")
    }
