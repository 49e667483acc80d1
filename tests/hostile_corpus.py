"""The hostile-input corpus (`tests/data/hostile/corpus.jsonl`, see `build_corpus.py` there)."""

from __future__ import annotations

import base64
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from stream_app.events.partitioning import partition_for_key

CORPUS_PATH = Path(__file__).parent / "data" / "hostile" / "corpus.jsonl"


@dataclass(frozen=True)
class CorpusMessage:
    case: str
    key: bytes | None
    value: bytes | None
    expect: str
    why: str
    wrong_partition: bool = False

    @property
    def reason(self) -> str | None:
        """The expected `dlq.reason`, or None for a message that must reach the state."""
        kind, _, reason = self.expect.partition(":")
        return reason if kind == "dead_letter" else None

    def partition(self, partitions: int) -> int | None:
        """The partition to send it to; None: the default partitioner decides."""
        if not self.wrong_partition:
            return None
        assert self.key is not None
        return (partition_for_key(self.key, partitions) + 1) % partitions


def _bytes(text: str | None) -> bytes | None:
    return None if text is None else base64.b64decode(text)


def load_corpus() -> list[CorpusMessage]:
    out = []
    for text in CORPUS_PATH.read_text().splitlines():
        row = json.loads(text)
        out.append(
            CorpusMessage(
                row["case"],
                _bytes(row["key"]),
                _bytes(row["value"]),
                row["expect"],
                row["why"],
                row.get("partition") == "wrong",
            )
        )
    return out


def expected_counts(corpus: list[CorpusMessage]) -> dict[bytes, int]:
    """Events each accepted user's state must count (`applied` lines; duplicates add nothing)."""
    counts: Counter[bytes] = Counter()
    for message in corpus:
        if message.reason is None:
            assert message.key is not None
            counts[message.key] += message.expect == "applied"
    return dict(counts)
