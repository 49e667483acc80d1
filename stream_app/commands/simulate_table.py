"""The per-day table of `policy simulate`: what each simulated day produced."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date


@dataclass
class DayStats:
    """What one simulated day produced."""

    events: int = 0
    alerts: Counter[str] = field(default_factory=Counter)
    sent: Counter[str] = field(default_factory=Counter)
    control: int = 0
    migrations: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    coupons_used: int = 0
    budget_left: float = 0.0
    #: Actions held to the end of the quiet window (quiet hours, mode `defer`), and of those
    #: the ones whose user came back before that (the push still goes out).
    deferred: int = 0
    deferred_user_back: int = 0

    @property
    def records(self) -> int:
        """Action records, real and control."""
        return sum(self.sent.values()) + self.control


_COLUMNS = (
    "day", "events", "alerts_w/a/c", "re_rec", "of_which_migr", "push", "coupon", "control",
    "skip_cool", "skip_quiet", "deferred", "defer_back", "skip_budget", "budget_left", "ctrl_share",
)  # fmt: skip


def format_table(days: dict[date, DayStats]) -> str:
    """The per-day table with a total row."""
    rows = [_row(str(day), stats) for day, stats in sorted(days.items())]
    total = DayStats()
    for stats in days.values():
        total.events += stats.events
        total.alerts.update(stats.alerts)
        total.sent.update(stats.sent)
        total.control += stats.control
        total.migrations += stats.migrations
        total.skipped.update(stats.skipped)
        total.coupons_used += stats.coupons_used
        total.deferred += stats.deferred
        total.deferred_user_back += stats.deferred_user_back
    total.budget_left = float("nan")
    rows.append(_row("total", total))
    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(_COLUMNS)]
    lines = ["  ".join(c.rjust(w) for c, w in zip(_COLUMNS, widths, strict=True))]
    lines += ["  ".join(v.rjust(w) for v, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(lines)


def _row(label: str, s: DayStats) -> list[str]:
    share = f"{s.control / s.records:.3f}" if s.records else "-"
    left = "-" if s.budget_left != s.budget_left else f"{s.budget_left:.1f}"
    return [
        label,
        str(s.events),
        "/".join(str(s.alerts[level]) for level in ("warning", "at_risk", "critical")),
        str(s.sent["re_recommend"]),
        str(s.migrations),
        str(s.sent["push"]),
        str(s.sent["coupon"]),
        str(s.control),
        str(s.skipped["cooldown"]),
        str(s.skipped["quiet_hours"]),
        str(s.deferred),
        str(s.deferred_user_back),
        str(s.skipped["budget"]),
        left,
        share,
    ]
