"""Detection of offsets Faust fetched but never delivered."""

from __future__ import annotations

from stream_app.runtime.ordering import GapWatch, OffsetCursor, OffsetGap, stuck_gaps


def test_a_gap_before_every_acked_offset_is_stuck() -> None:
    gaps = stuck_gaps({"p3": [440, 441, 442]}, {"p3": 371}, in_flight=())
    assert gaps == [OffsetGap("p3", 371, 440)]


def test_contiguous_acks_are_not_a_gap() -> None:
    assert stuck_gaps({"p0": [10, 11, 12]}, {"p0": 10}, in_flight=()) == []


def test_a_partition_with_a_message_in_flight_may_still_close_its_gap() -> None:
    assert stuck_gaps({"p0": [12, 13]}, {"p0": 10}, in_flight={"p0"}) == []


def test_nothing_acked_or_nothing_committed_is_no_gap() -> None:
    assert stuck_gaps({"p0": [], "p1": [5]}, {"p0": 3, "p1": None}, in_flight=()) == []


def test_a_tail_read_and_dropped_with_nothing_acked_is_a_gap() -> None:
    gaps = stuck_gaps({"p0": []}, {"p0": 20, "p1": 5}, in_flight=(), read_past={"p0": 24, "p1": 4})
    assert gaps == [OffsetGap("p0", 20, 25)]


def test_a_dropped_tail_is_no_gap_while_a_message_is_in_flight_or_acks_wait() -> None:
    committed, dropped = {"p0": 20}, {"p0": 24}
    assert stuck_gaps({"p0": []}, committed, in_flight={"p0"}, read_past=dropped) == []
    assert stuck_gaps({"p0": [20, 21]}, committed, in_flight=(), read_past=dropped) == []


def test_a_gap_is_confirmed_only_after_patience_checks_in_a_row() -> None:
    watch: GapWatch[str] = GapWatch(patience=3)
    gap = OffsetGap("p3", 371, 440)
    assert watch.confirmed([gap]) == []
    assert watch.confirmed([gap]) == []
    assert watch.confirmed([gap]) == [gap]
    assert watch.confirmed([gap]) == []  # reported once, then counted afresh


def test_a_gap_that_closes_resets_its_count() -> None:
    watch: GapWatch[str] = GapWatch(patience=2)
    gap = OffsetGap("p0", 1, 5)
    assert watch.confirmed([gap]) == []
    assert watch.confirmed([]) == []
    assert watch.confirmed([gap]) == []
    assert watch.confirmed([gap]) == [gap]


def test_the_cursor_admits_offsets_in_order_and_holds_back_past_a_gap() -> None:
    cursor = OffsetCursor()
    cursor.restart({0: 10, 1: None})
    assert [cursor.admit(0, o) for o in (10, 11, 13, 14)] == [True, True, False, False]
    assert cursor.admit(0, 12)  # the missing one, fetched again
    assert [cursor.admit(0, o) for o in (13, 14)] == [True, True]


def test_the_cursor_lets_redeliveries_through_without_moving_back() -> None:
    cursor = OffsetCursor()
    cursor.restart({0: 10})
    assert cursor.admit(0, 10) and cursor.admit(0, 11)
    assert cursor.admit(0, 10)  # redelivered: the pipeline recognises it as a duplicate
    assert not cursor.admit(0, 13)


def test_a_partition_without_a_commit_starts_at_its_first_message() -> None:
    cursor = OffsetCursor()
    cursor.restart({0: None})
    assert cursor.admit(0, 5)
    assert not cursor.admit(0, 7)


def test_offsets_count_as_nonexistent_only_when_the_broker_skips_them() -> None:
    cursor = OffsetCursor()
    cursor.restart({0: 10})
    assert not cursor.admit(0, 12)  # 10 and 11 missing: dropped, or never written?
    assert not cursor.admit(0, 12)  # still held: a later delivery proves nothing
    cursor.skip_to(0, 12)  # a fetch from 10 returned 12 first
    assert cursor.admit(0, 12)
    assert cursor.held_back(0) is None
    assert cursor.admit(0, 13)


def test_skip_to_never_moves_the_cursor_back() -> None:
    cursor = OffsetCursor()
    cursor.restart({0: 10})
    cursor.skip_to(0, 8)
    assert cursor.expected(0) == 10


def test_held_back_records_the_highest_offset_until_it_is_applied() -> None:
    cursor = OffsetCursor()
    cursor.restart({0: 10})
    assert not cursor.admit(0, 12) and not cursor.admit(0, 14)
    assert cursor.held_back(0) == 14
    assert all(cursor.admit(0, o) for o in (10, 11, 12, 13))
    assert cursor.held_back(0) == 14
    assert cursor.admit(0, 14)
    assert cursor.held_back(0) is None
    assert cursor.expected(0) == 15


def test_the_cursor_never_waits_below_the_committed_offset() -> None:
    cursor = OffsetCursor()
    cursor.restart({0: 0})  # e.g. started before the real committed offset was known
    assert cursor.admit(0, 300, committed=300)
    assert cursor.admit(0, 301, committed=300)
    assert not cursor.admit(0, 305, committed=300)
