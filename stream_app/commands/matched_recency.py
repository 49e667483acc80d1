"""Alerts against the naive rule: "alert when the user has been silent for s days".

For each level, the recency rule that alerts the same number of users at the same silences is
the level's alerts' silence distribution (in whole days) applied to every user silent that
long: its return rate within H is Σ_d A(d)·r(d) / Σ_d A(d), with A(d) the level's alerts at
silence d and r(d) the return rate of all user-moments at silence d. The same standardisation
over the users *not alerted at this level* by that silence gives the alerted users' fair
comparison. Moments are counted only where the data runs H beyond them, and only from
`start_seconds` on (an out-of-sample window). Intervals: a Poisson bootstrap over users (a
user's alerts and silences are resampled together, so repeated moments of one user are not
taken as independent).
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from stream_app.clock import SECONDS_PER_DAY
from stream_app.commands.alert_quality import AlertRecord, ReturnTimes

BOOTSTRAP_DRAWS = 400
_SEED = 20260525


@dataclass(frozen=True, slots=True)
class MatchedRow:
    """One level against the recency rule and the not-alerted users at the same silences."""

    level: str
    alerts: int
    users: int
    returned_share: float
    recency_share: float
    recency_diff_interval: tuple[float, float]
    not_alerted_share: float
    not_alerted_diff_interval: tuple[float, float]


@dataclass
class _Counts:
    """Per user (rows) × silence day (columns): moments and returns."""

    moments: npt.NDArray[np.float64]
    returned: npt.NDArray[np.float64]


def matched_recency(
    alerts: Sequence[AlertRecord],
    returns: ReturnTimes,
    horizon_seconds: float,
    start_seconds: float = -np.inf,
    levels: Sequence[str] = ("warning", "at_risk", "critical"),
) -> list[MatchedRow]:
    """One row per level with alerts in the window whose horizon the data covers."""
    scored = [
        a
        for a in alerts
        if a.at_seconds >= start_seconds and returns.observed(a.at_seconds, horizon_seconds)
    ]
    if not scored:
        return []
    days = np.array(sorted({_day(a) for a in scored}), dtype=np.int64)
    users = sorted(returns.event_times)
    index = {u: i for i, u in enumerate(users)}
    first_alert = _first_alert_days(alerts)
    rng = np.random.default_rng(_SEED)
    weights = rng.poisson(1.0, size=(BOOTSTRAP_DRAWS, len(users))).astype(np.float64)
    everyone = _moments(users, days, returns, horizon_seconds, start_seconds, None, first_alert)
    rows = []
    for level in levels:
        mine = [a for a in scored if a.level == level]
        if not mine:
            continue
        alerted = _alert_counts(mine, days, index, returns, horizon_seconds)
        quiet = _moments(users, days, returns, horizon_seconds, start_seconds, level, first_alert)
        share = _rate(alerted)
        rec, rec_draws = _standardised(alerted, everyone, weights)
        nal, nal_draws = _standardised(alerted, quiet, weights)
        own = _draw_rates(alerted, weights)
        rows.append(
            MatchedRow(
                level=level,
                alerts=len(mine),
                users=len({a.user_id for a in mine}),
                returned_share=share,
                recency_share=rec,
                recency_diff_interval=_interval(own - rec_draws),
                not_alerted_share=nal,
                not_alerted_diff_interval=_interval(own - nal_draws),
            )
        )
    return rows


def _day(alert: AlertRecord) -> int:
    return round(alert.silent_seconds / SECONDS_PER_DAY)


def _first_alert_days(alerts: Sequence[AlertRecord]) -> dict[tuple[str, str, float], float]:
    """(user, level, episode start) → the silence in days at which that level fired first."""
    first: dict[tuple[str, str, float], float] = {}
    for a in alerts:
        key = (a.user_id, a.level, round(a.at_seconds - a.silent_seconds, 3))
        first[key] = min(first.get(key, np.inf), a.silent_seconds / SECONDS_PER_DAY)
    return first


def _alert_counts(
    alerts: Sequence[AlertRecord],
    days: npt.NDArray[np.int64],
    index: dict[str, int],
    returns: ReturnTimes,
    horizon_seconds: float,
) -> _Counts:
    counts = _Counts(np.zeros((len(index), len(days))), np.zeros((len(index), len(days))))
    for a in alerts:
        row, col = index[a.user_id], int(np.searchsorted(days, _day(a)))
        counts.moments[row, col] += 1
        counts.returned[row, col] += returns.returned(a.user_id, a.at_seconds, horizon_seconds)
    return counts


def _moments(
    users: Sequence[str],
    days: npt.NDArray[np.int64],
    returns: ReturnTimes,
    horizon_seconds: float,
    start_seconds: float,
    not_alerted_at: str | None,
    first_alert: dict[tuple[str, str, float], float],
) -> _Counts:
    """Every user-moment at silence d (whole days in `days`) inside the observed window.

    With `not_alerted_at`, only the moments before that level fired in the episode.
    """
    counts = _Counts(np.zeros((len(users), len(days))), np.zeros((len(users), len(days))))
    offsets = days * SECONDS_PER_DAY
    for row, user in enumerate(users):
        times = returns.event_times[user]
        back = returns.times.get(user, [])
        for k, start in enumerate(times):
            end = times[k + 1] if k + 1 < len(times) else np.inf
            if end <= start:
                continue
            at = start + offsets
            ok = (at < end) & (at >= start_seconds) & (at + horizon_seconds <= returns.end_seconds)
            if not_alerted_at is not None:
                fired = first_alert.get((user, not_alerted_at, round(start, 3)), np.inf)
                ok &= days < fired
            if not ok.any():
                continue
            j = bisect.bisect_right(back, start)
            next_back = back[j] if j < len(back) else np.inf
            counts.moments[row] += ok
            counts.returned[row] += ok & (next_back <= at + horizon_seconds)
    return counts


def _rate(counts: _Counts) -> float:
    total = counts.moments.sum()
    return float(counts.returned.sum() / total) if total else float("nan")


def _draw_rates(counts: _Counts, weights: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """The return rate in each bootstrap draw (users weighted)."""
    n = weights @ counts.moments.sum(axis=1)
    r = weights @ counts.returned.sum(axis=1)
    rates: npt.NDArray[np.float64] = np.divide(r, n, out=np.full_like(r, np.nan), where=n > 0)
    return rates


def _standardised(
    alerted: _Counts, reference: _Counts, weights: npt.NDArray[np.float64]
) -> tuple[float, npt.NDArray[np.float64]]:
    """Σ_d A(d)·r(d) / Σ_d A(d) over the days with reference moments: point and draws."""

    def mix(
        a: npt.NDArray[np.float64], n: npt.NDArray[np.float64], r: npt.NDArray[np.float64]
    ) -> npt.NDArray[np.float64]:
        rate = np.divide(r, n, out=np.zeros_like(r), where=n > 0)
        a = np.where(n > 0, a, 0.0)
        total = a.sum(axis=-1)
        mixed: npt.NDArray[np.float64] = np.divide(
            (a * rate).sum(axis=-1), total, out=np.full_like(total, np.nan), where=total > 0
        )
        return mixed

    point = mix(
        alerted.moments.sum(axis=0), reference.moments.sum(axis=0), reference.returned.sum(axis=0)
    )
    draws = mix(
        weights @ alerted.moments, weights @ reference.moments, weights @ reference.returned
    )
    return float(point), draws


def _interval(diffs: npt.NDArray[np.float64]) -> tuple[float, float]:
    finite = diffs[np.isfinite(diffs)]
    if not finite.size:
        return float("nan"), float("nan")
    low, high = np.percentile(finite, [2.5, 97.5])
    return float(low), float(high)


def format_matched(rows: Sequence[MatchedRow], horizon_days: float) -> str:
    """The comparison table as text."""
    h = f"{horizon_days:g}d"
    lines = [
        f"{'level':<9} {'alerts':>7} {'users':>6} {f'back_{h}':>8} {'recency':>8} "
        f"{'diff [95% CI]':>24} {'not_alerted':>11} {'diff [95% CI]':>24}"
    ]
    for r in rows:
        lines.append(
            f"{r.level:<9} {r.alerts:>7} {r.users:>6} {r.returned_share:>8.3f} "
            f"{r.recency_share:>8.3f} {_diff(r.returned_share - r.recency_share, r.recency_diff_interval):>24} "
            f"{r.not_alerted_share:>11.3f} "
            f"{_diff(r.returned_share - r.not_alerted_share, r.not_alerted_diff_interval):>24}"
        )
    return "\n".join(lines)


def _diff(value: float, interval: tuple[float, float]) -> str:
    return f"{value:+.3f} [{interval[0]:+.3f}, {interval[1]:+.3f}]"
