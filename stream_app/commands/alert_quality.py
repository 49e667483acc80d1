"""Offline quality of alerts and actions: does an alert mean "this user will not come back"?

From a simulation's records and the events themselves: per level, how many alerts, after how
long a silence (in days and relative to the user's usual gap), and the share of alerted users
who did return within H (1 − the precision of "will not come back"), beside the same share among users who were
not alerted at the same moments (the alert is right when that share is low); per action kind, the return rate of treated vs control users
with a 95% interval of the difference (the uplift).
"""

from __future__ import annotations

import bisect
import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from stream_app.clock import SECONDS_PER_DAY
from stream_app.events.schema import Event
from stream_app.policy.config import ControlPolicy
from stream_app.policy.decide import in_control_group
from stream_app.schedule.outcomes import counts_as_return

Z95 = 1.959964


@dataclass(frozen=True, slots=True)
class AlertRecord:
    """One alert of the simulation."""

    user_id: str
    level: str
    at_seconds: float
    silent_seconds: float
    #: Mean gap between the user's events before the alert; None for a one-time customer.
    usual_gap_seconds: float | None


@dataclass(frozen=True, slots=True)
class ActionRecord:
    """One action decided for an alert (control: held out, nothing was sent)."""

    user_id: str
    kind: str
    control: bool
    at_seconds: float


@dataclass(frozen=True, slots=True)
class Reference:
    """Users not alerted at a moment: who they were is enough to score them later."""

    at_seconds: float
    user_ids: tuple[str, ...]


class ReturnTimes:
    """Every user's return times (events that count as a return), to ask "back within H?"."""

    def __init__(self, events: Iterable[Event]) -> None:
        self.times: dict[str, list[float]] = {}
        #: Every event's time (cancellations too: they start a silence as well), distinct.
        self.event_times: dict[str, list[float]] = {}
        self.end_seconds = -math.inf
        seen: dict[str, set[float]] = {}
        for event in events:
            self.end_seconds = max(self.end_seconds, event.ts_seconds)
            seen.setdefault(event.user_id, set()).add(event.ts_seconds)
            if counts_as_return(event.type):
                self.times.setdefault(event.user_id, []).append(event.ts_seconds)
        for times in self.times.values():
            times.sort()
        self.event_times = {user: sorted(times) for user, times in seen.items()}

    def observed(self, at_seconds: float, horizon_seconds: float) -> bool:
        """Whether the data runs long enough after `at_seconds` to know."""
        return at_seconds + horizon_seconds <= self.end_seconds

    def returned(self, user_id: str, at_seconds: float, horizon_seconds: float) -> bool:
        """Whether the user came back in (at, at + H]."""
        times = self.times.get(user_id, [])
        i = bisect.bisect_right(times, at_seconds)
        return i < len(times) and times[i] <= at_seconds + horizon_seconds


@dataclass(frozen=True, slots=True)
class LevelQuality:
    """One row of the alert table."""

    level: str
    alerts: int
    median_silence_days: float
    median_silence_over_gap: float
    one_time_share: float
    returned_share: float
    reference_returned_share: float


@dataclass(frozen=True, slots=True)
class UpliftRow:
    """One row of the action table."""

    kind: str
    treated: int
    treated_return_rate: float
    control: int
    control_return_rate: float
    uplift: float
    uplift_low: float
    uplift_high: float


def level_quality(
    alerts: Sequence[AlertRecord],
    references: Sequence[Reference],
    returns: ReturnTimes,
    horizon_seconds: float,
    levels: Sequence[str] = ("warning", "at_risk", "critical"),
) -> list[LevelQuality]:
    """The alert table: only alerts whose horizon the data covers."""
    reference = reference_returned_share(references, returns, horizon_seconds)
    rows = []
    for level in levels:
        known = [
            a
            for a in alerts
            if a.level == level and returns.observed(a.at_seconds, horizon_seconds)
        ]
        if not known:
            continue
        back = [returns.returned(a.user_id, a.at_seconds, horizon_seconds) for a in known]
        ratios = [a.silent_seconds / a.usual_gap_seconds for a in known if a.usual_gap_seconds]
        rows.append(
            LevelQuality(
                level=level,
                alerts=len(known),
                median_silence_days=statistics.median(a.silent_seconds for a in known)
                / SECONDS_PER_DAY,
                median_silence_over_gap=statistics.median(ratios) if ratios else math.nan,
                one_time_share=sum(a.usual_gap_seconds is None for a in known) / len(known),
                returned_share=sum(back) / len(back),
                reference_returned_share=reference,
            )
        )
    return rows


def reference_returned_share(
    references: Sequence[Reference], returns: ReturnTimes, horizon_seconds: float
) -> float:
    """Share of not-alerted users who came back within H, over the reference moments."""
    back = total = 0
    for ref in references:
        if not returns.observed(ref.at_seconds, horizon_seconds):
            continue
        for user in ref.user_ids:
            total += 1
            back += returns.returned(user, ref.at_seconds, horizon_seconds)
    return back / total if total else math.nan


def uplift(
    actions: Sequence[ActionRecord], returns: ReturnTimes, horizon_seconds: float
) -> list[UpliftRow]:
    """Per kind: return within H after the action, treated vs control, 95% interval."""
    rows = []
    for kind in sorted({a.kind for a in actions}):
        groups: Mapping[bool, list[bool]] = {True: [], False: []}
        for a in actions:
            if a.kind == kind and returns.observed(a.at_seconds, horizon_seconds):
                groups[a.control].append(returns.returned(a.user_id, a.at_seconds, horizon_seconds))
        treated, control = groups[False], groups[True]
        if not treated or not control:
            continue
        rows.append(_uplift_row(kind, treated, control))
    return rows


def _uplift_row(kind: str, treated: list[bool], control: list[bool]) -> UpliftRow:
    pt, pc = sum(treated) / len(treated), sum(control) / len(control)
    se = math.sqrt(pt * (1 - pt) / len(treated) + pc * (1 - pc) / len(control))
    diff = pt - pc
    return UpliftRow(
        kind, len(treated), pt, len(control), pc, diff, diff - Z95 * se, diff + Z95 * se
    )


def placebo_uplift(
    actions: Sequence[ActionRecord],
    returns: ReturnTimes,
    horizon_seconds: float,
    share: float,
    salts: Sequence[str],
) -> dict[str, list[float]]:
    """Per kind: treated − control return rate with the control group drawn by each salt.

    In a replay no action is delivered, so every such difference is chance: their spread is
    what an "uplift" of this sample size can show with no effect at all.
    """
    spreads: dict[str, list[float]] = {}
    for salt in salts:
        control = ControlPolicy(share=share, salt=salt)
        resalted = [replace(a, control=in_control_group(a.user_id, control)) for a in actions]
        for row in uplift(resalted, returns, horizon_seconds):
            spreads.setdefault(row.kind, []).append(row.uplift)
    return spreads


def format_placebo(spreads: Mapping[str, list[float]], horizon_days: float) -> str:
    """The placebo table as text: the spread of the chance differences per kind."""
    lines = [
        f"{'action':<13} {'salts':>5} {f'treated-control back_{horizon_days:g}d':>26}"
        f" {'min':>7} {'max':>7} {'sd':>6}"
    ]
    for kind, diffs in sorted(spreads.items()):
        sd = statistics.stdev(diffs) if len(diffs) > 1 else math.nan
        values = " ".join(f"{d:+.3f}" for d in diffs[:4]) + (" …" if len(diffs) > 4 else "")
        lines.append(
            f"{kind:<13} {len(diffs):>5} {values:>26} {min(diffs):>+7.3f} {max(diffs):>+7.3f}"
            f" {sd:>6.3f}"
        )
    return "\n".join(lines)


def format_levels(rows: Sequence[LevelQuality], horizon_days: float) -> str:
    """The alert table as text."""
    header = (
        f"{'level':<9} {'alerts':>7} {'silence_d':>9} {'silence/gap':>11} {'one_time':>8} "
        f"{f'back_{horizon_days:g}d':>8} {'not_alerted_back':>16}"
    )
    lines = [header]
    for r in rows:
        lines.append(
            f"{r.level:<9} {r.alerts:>7} {r.median_silence_days:>9.1f} "
            f"{r.median_silence_over_gap:>11.2f} {r.one_time_share:>8.2f} "
            f"{r.returned_share:>8.3f} {r.reference_returned_share:>16.3f}"
        )
    return "\n".join(lines)


def format_uplift(rows: Sequence[UpliftRow], horizon_days: float) -> str:
    """The action table as text."""
    lines = [
        f"{'action':<13} {'treated':>7} {f'back_{horizon_days:g}d':>9} "
        f"{'control':>7} {f'back_{horizon_days:g}d':>9} {'uplift':>7} {'95% interval':>17}"
    ]
    for r in rows:
        lines.append(
            f"{r.kind:<13} {r.treated:>7} {r.treated_return_rate:>9.3f} {r.control:>7} "
            f"{r.control_return_rate:>9.3f} {r.uplift:>+7.3f} "
            f"[{r.uplift_low:+.3f}, {r.uplift_high:+.3f}]"
        )
    return "\n".join(lines)
