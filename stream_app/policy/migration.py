"""Interest migration: the recent category profile drifts away from the long-term one (pure)."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from stream_app.policy.config import Migration
from stream_app.state import RecentEvent, UserState


@dataclass(frozen=True, slots=True)
class InterestShift:
    """A detected shift: its divergence, the triggering event's time and the new top categories."""

    divergence: float
    event_seconds: float
    recent_top: tuple[str, ...]


def category_profile(events: Iterable[RecentEvent]) -> dict[str, float]:
    """Share of each category among events that have one."""
    counts = Counter(e.category_id for e in events if e.category_id)
    total = sum(counts.values())
    return {category: n / total for category, n in counts.items()} if total else {}


def js_divergence(p: Mapping[str, float], q: Mapping[str, float]) -> float:
    """Jensen–Shannon divergence in bits (0: same profile, 1: disjoint).

    Summed in sorted key order: a set's order changes with the process's string hash seed, and
    the float sum with it, which could flip a decision right at the threshold between runs.
    """
    total = 0.0
    for key in sorted(set(p) | set(q)):
        a, b = p.get(key, 0.0), q.get(key, 0.0)
        m = (a + b) / 2
        if a > 0:
            total += a * math.log2(a / m) / 2
        if b > 0:
            total += b * math.log2(b / m) / 2
    return min(max(total, 0.0), 1.0)


def shift_possible(events_in_ring: int, migration: Migration) -> bool:
    """Whether a ring of `events_in_ring` events can show a shift at all: the check needs
    `recent_events` + `min_history_events` of them with a category."""
    needed = migration.recent_events + migration.min_history_events
    return migration.enabled and events_in_ring >= needed


def detect_interest_migration(state: UserState, migration: Migration) -> InterestShift | None:
    """A shift when the last `recent_events` diverge from the older ring above the threshold."""
    if not migration.enabled:
        return None
    with_category = [e for e in state.recent if e.category_id]
    recent = with_category[-migration.recent_events :]
    history = with_category[: -migration.recent_events]
    if len(recent) < migration.recent_events or len(history) < migration.min_history_events:
        return None
    recent_profile = category_profile(recent)
    divergence = js_divergence(recent_profile, category_profile(history))
    if divergence <= migration.threshold:
        return None
    ranked = sorted(recent_profile, key=lambda c: (-recent_profile[c], c))
    return InterestShift(round(divergence, 6), recent[-1].ts_seconds, tuple(ranked))
