"""Detection of offsets Faust fetched but never delivered."""

from __future__ import annotations

from stream_app.offset_gaps import GapWatch, OffsetCursor, OffsetGap, stuck_gaps


def test_a_gap_before_every_acked_offset_is_stuck() -> None:
    gaps = stuck_gaps({"p3": [440, 441, 442]}, {"p3": 371}, in_flight=())
    assert gaps == [OffsetGap("p3", 371, 440)]


def test_contiguous_acks_are_not_a_gap() -> None:
    assert stuck_gaps({"p0": [10, 11, 12]}, {"p0": 10}, in_flight=()) == []


def test_a_partition_with_a_message_in_flight_may_still_close_its_gap() -> None:
    assert stuck_gaps({"p0": [12, 13]}, {"p0": 10}, in_flight={"p0"}) == []


def test_nothing_acked_or_nothing_committed_is_no_gap() -> None:
    assert stuck_gaps({"p0": [], "p1": [5]}, {"p0": 3, "p1": None}, in_flight=()) == []


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


def test_offsets_known_not_to_exist_do_not_hold_back() -> None:
    cursor = OffsetCursor()
    cursor.restart({0: 10})
    assert not cursor.admit(0, 12, known_missing=lambda first, end: (first, end) == (9, 12))
    assert cursor.admit(0, 12, known_missing=lambda first, end: (first, end) == (10, 12))
    assert cursor.admit(0, 13)
