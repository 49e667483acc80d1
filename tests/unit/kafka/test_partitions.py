"""The start-up partition check names each wrong topic with both counts."""

from __future__ import annotations

from stream_app.kafka.partitions import partition_problems


def test_a_topic_with_another_count_is_named_with_both_counts() -> None:
    problems = partition_problems(8, {"decay.events": 6, "decay.alerts": 8}, ["decay.events"])
    assert problems == ["topic decay.events has 6 partitions, expected 8 (DECAY_PARTITIONS)"]


def test_a_missing_required_topic_is_a_problem_a_missing_changelog_is_not() -> None:
    counts: dict[str, int | None] = {"decay.ticks": None, "app-user-state-changelog": None}
    assert partition_problems(4, counts, ["decay.ticks"]) == ["topic decay.ticks does not exist"]


def test_an_existing_changelog_with_another_count_is_a_problem() -> None:
    counts: dict[str, int | None] = {"decay.events": 4, "app-user-state-changelog": 2}
    assert partition_problems(4, counts, ["decay.events"]) == [
        "topic app-user-state-changelog has 2 partitions, expected 4 (DECAY_PARTITIONS)"
    ]


def test_matching_counts_are_no_problem() -> None:
    assert partition_problems(4, {"a": 4, "b": 4, "c": None}, ["a", "b"]) == []
