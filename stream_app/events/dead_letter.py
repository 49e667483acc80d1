"""The dead-letter record: the original bytes as value, the reason and source in headers.

A letter that would not fit the dead-letter topic or the producer (`fit_letter`) carries a
prefix of the original bytes instead, with their size and SHA-256 in headers and
`dlq.truncated` saying which part was cut: a message of any size the broker accepts still
reaches the dead-letter topic, so it can never stop its partition.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace

DEAD_LETTER_SCHEMA_VERSION = "1"
#: Room kept for Kafka's record and batch framing around key, value and headers.
FRAMING_BYTES = 1024


@dataclass(frozen=True, slots=True)
class Original:
    """Size and SHA-256 of a part (key or value) cut to fit the dead-letter topic."""

    part: str
    size_bytes: int
    sha256: str

    @classmethod
    def of(cls, part: str, data: bytes) -> Original:
        """The original `data` of `part` (`key` or `value`)."""
        return cls(part, len(data), hashlib.sha256(data).hexdigest())


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
    #: Parts cut to fit (empty: key and value are the original bytes).
    truncated: tuple[Original, ...] = ()

    def headers(self) -> list[tuple[str, bytes]]:
        """Kafka headers carried by the dead-letter message."""
        headers = [
            ("dlq.reason", self.reason.encode()),
            ("dlq.detail", self.detail.encode("utf-8", "replace")),
            ("dlq.source.topic", self.source_topic.encode()),
            ("dlq.source.partition", str(self.source_partition).encode()),
            ("dlq.source.offset", str(self.source_offset).encode()),
            ("dlq.rejected_at", f"{self.rejected_at_seconds:.3f}".encode()),
            ("dlq.schema_version", DEAD_LETTER_SCHEMA_VERSION.encode()),
        ]
        if self.truncated:
            headers.append(("dlq.truncated", ",".join(o.part for o in self.truncated).encode()))
        for original in self.truncated:
            headers.append(
                (f"dlq.original.{original.part}_bytes", str(original.size_bytes).encode())
            )
            headers.append((f"dlq.original.{original.part}_sha256", original.sha256.encode()))
        return headers

    def size_bytes(self) -> int:
        """Bytes of key, value and headers, plus the framing a record takes at most."""
        headers = sum(len(name) + len(value) + 10 for name, value in self.headers())
        return len(self.key or b"") + len(self.value or b"") + headers + FRAMING_BYTES


def fit_letter(letter: DeadLetter, max_bytes: int) -> DeadLetter:
    """`letter` if it fits in `max_bytes`, else with its value (then key) cut to a prefix."""
    if letter.size_bytes() <= max_bytes:
        return letter
    value, key = letter.value or b"", letter.key or b""
    cut_value = replace(letter, value=b"", truncated=(Original.of("value", value),))
    room = max_bytes - cut_value.size_bytes()
    if room >= 0 or not key:
        return replace(cut_value, value=value[: max(room, 0)])
    originals = (*cut_value.truncated, Original.of("key", key))
    cut_both = replace(cut_value, key=b"", truncated=originals)
    return replace(cut_both, key=key[: max(max_bytes - cut_both.size_bytes(), 0)])


def parse_dead_letter_headers(headers: list[tuple[str, bytes]]) -> dict[str, str]:
    """Headers of a dead-letter message as a str dict (for `tail` and tests)."""
    return {
        name: value.decode("utf-8", "replace") for name, value in headers if name.startswith("dlq.")
    }
