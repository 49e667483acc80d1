"""Faust never commits past an offset that was not acknowledged."""

from __future__ import annotations

from collections import defaultdict
from types import SimpleNamespace
from typing import Any

from faust.transport.consumer import Consumer
from intervaltree import IntervalTree

from stream_app.faust_fixes import strict_commit_gaps

TP = "events-0"


def consumer(committed: int | None, acked: list[int], gap: IntervalTree | None = None) -> Any:
    return SimpleNamespace(
        _acked=defaultdict(list, {TP: list(acked)}),
        _acked_index=defaultdict(set, {TP: set(acked)}),
        _committed_offset=defaultdict(lambda: None, {TP: committed}),
        _gap=defaultdict(IntervalTree, {TP: gap or IntervalTree()}),
    )


def test_contiguous_acks_commit_past_the_last_one() -> None:
    strict_commit_gaps()
    assert Consumer._new_offset(consumer(10, [10, 11, 12]), TP) == 13


def test_a_single_missing_offset_holds_the_commit_back() -> None:
    strict_commit_gaps()
    c = consumer(10, [11, 12])  # offset 10 was never acknowledged
    assert Consumer._new_offset(c, TP) is None
    assert c._acked[TP] == [11, 12]  # still waiting to be committed


def test_offsets_known_not_to_exist_do_not_hold_the_commit_back() -> None:
    strict_commit_gaps()
    gap = IntervalTree()
    gap.addi(10, 11)  # e.g. a transaction marker
    assert Consumer._new_offset(consumer(10, [11, 12], gap), TP) == 13


def test_applying_twice_patches_once() -> None:
    strict_commit_gaps()
    patched = Consumer._new_offset
    strict_commit_gaps()
    assert Consumer._new_offset is patched
