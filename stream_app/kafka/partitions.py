"""Start-up check: every topic of the worker has the partition count it was configured with.

A user's events, state, ticks and alerts must live on the same partition number. A topic made
earlier with another count would be accepted by Faust and every event would end on the
dead-letter topic as `wrong_partition`; the worker refuses to start instead.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping

from stream_app.kafka.clients import new_admin


class PartitionCountError(RuntimeError):
    """Topics that are missing or have another partition count than configured."""


def partition_problems(
    expected: int, actual: Mapping[str, int | None], required: Iterable[str]
) -> list[str]:
    """One line per topic of `actual` whose count is not `expected` (None: it does not exist).

    A topic in `required` must exist; any other topic (the changelog, which Faust creates on
    first start) only needs the right count once it exists.
    """
    must_exist = set(required)
    problems = []
    for topic, count in sorted(actual.items()):
        if count is None:
            if topic in must_exist:
                problems.append(f"topic {topic} does not exist")
        elif count != expected:
            problems.append(
                f"topic {topic} has {count} partitions, expected {expected} (DECAY_PARTITIONS)"
            )
    return problems


def partition_counts(
    bootstrap: str, topics: Iterable[str], client_config: dict[str, object] | None = None
) -> dict[str, int | None]:
    """The partition count of each topic on the cluster, None where it does not exist."""
    names = list(topics)
    admin = new_admin(bootstrap, client_config)
    try:
        existing = set(admin.list_topics()) & set(names)
        described = admin.describe_topics(sorted(existing)) if existing else []
    finally:
        admin.close()
    counts: dict[str, int | None] = dict.fromkeys(names)
    for topic in described:
        counts[topic["name"]] = len(topic["partitions"])
    return counts


def check_partition_counts(
    bootstrap: str,
    expected: int,
    required: Iterable[str],
    optional: Iterable[str] = (),
    client_config: dict[str, object] | None = None,
    wait_seconds: float = 15.0,
) -> None:
    """Raise PartitionCountError naming every topic with a missing or wrong partition count.

    A topic created a moment ago can take a while to appear in the metadata of every broker:
    a missing required topic is asked for again until `wait_seconds` have passed.
    """
    required = list(required)
    deadline = time.monotonic() + wait_seconds
    while True:
        counts = partition_counts(bootstrap, [*required, *optional], client_config)
        if all(counts[topic] is not None for topic in required) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    problems = partition_problems(expected, counts, required)
    if problems:
        raise PartitionCountError(
            "; ".join(problems)
            + ". Every topic needs the same partition count: create the topics with"
            " DECAY_PARTITIONS partitions, or set DECAY_PARTITIONS to the topics' count"
        )
