"""A partition with messages waiting and no progress for stall_seconds is reported stalled."""

from __future__ import annotations

from stream_app.worker.progress import ProgressWatch


def test_no_progress_with_messages_waiting_is_a_stall_once() -> None:
    watch = ProgressWatch(stall_seconds=30)
    assert watch.observe(2, 10, 50, now_seconds=0) is None
    assert watch.observe(2, 10, 50, now_seconds=29) is None
    stall = watch.observe(2, 10, 50, now_seconds=31)
    assert stall is not None and stall.waiting_messages == 39
    assert watch.observe(2, 10, 50, now_seconds=40) is None  # counted once
    assert watch.reasons(40) == ["partition 2: no progress for 40 s with 39 messages waiting"]


def test_progress_or_nothing_waiting_is_healthy() -> None:
    watch = ProgressWatch(stall_seconds=30)
    watch.observe(0, 10, 50, now_seconds=0)
    assert watch.observe(0, 11, 50, now_seconds=31) is None  # moved on
    assert watch.observe(1, 49, 50, now_seconds=0) is None
    assert watch.observe(1, 49, 50, now_seconds=100) is None  # caught up: nothing waits
    assert watch.reasons(100) == []


def test_a_partition_never_processed_stalls_too_and_recovers() -> None:
    watch = ProgressWatch(stall_seconds=5)
    watch.observe(3, None, 7, now_seconds=0)
    assert watch.observe(3, None, 7, now_seconds=6) is not None
    watch.observe(3, 0, 7, now_seconds=7)
    assert watch.reasons(7) == []
