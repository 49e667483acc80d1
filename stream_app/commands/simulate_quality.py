"""What a `policy simulate` replay's alerts and actions were worth: the alerts as predictions,
against the naive recency rule, and the placebo check of the action uplift."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from stream_app.clock import SECONDS_PER_DAY
from stream_app.commands.alert_quality import (
    ActionRecord,
    AlertRecord,
    Reference,
    ReturnTimes,
    format_levels,
    format_placebo,
    level_quality,
    placebo_uplift,
)
from stream_app.commands.matched_recency import format_matched, matched_recency
from stream_app.commands.training_window import overlap_note
from stream_app.policy.config import ControlPolicy


@dataclass(frozen=True)
class Replayed:
    """What a replay recorded: its alerts, the users not alerted at each simulated midnight,
    its actions; with the model's horizon and the policy's control group."""

    alerts: list[AlertRecord]
    references: list[Reference]
    actions: list[ActionRecord]
    horizon_days: float
    control: ControlPolicy


#: Control groups drawn for the placebo check (the policy's own salt is one more).
PLACEBO_SALTS = tuple(f"placebo-{i}" for i in range(8))


def print_quality(
    replay: Replayed, returns: ReturnTimes, model_path: Path, score_from: float
) -> None:
    """The alert tables (alerts from `score_from` whose horizon the data covers) and the
    placebo check of the action uplift."""
    horizon_days = replay.horizon_days
    horizon = horizon_days * SECONDS_PER_DAY
    alerts = [a for a in replay.alerts if a.at_seconds >= score_from]
    references = [r for r in replay.references if r.at_seconds >= score_from]
    print(f"\n{overlap_note(model_path, score_from)}")
    print(f"\nalerts as predictions: back within {horizon_days:g} d after the alert")
    print(format_levels(level_quality(alerts, references, returns, horizon), horizon_days))
    print(
        "\nagainst the naive rule: recency alone alerting as many users at the same silences"
        " (whole days), and the users not alerted at that level at the same silences;"
        " 95% intervals of the differences from a bootstrap over users"
    )
    print(
        format_matched(matched_recency(replay.alerts, returns, horizon, score_from), horizon_days)
    )
    control = replay.control
    salts = (control.salt, *PLACEBO_SALTS)
    print(
        f"\nplacebo check, not an uplift: a replay delivers no action, so treated and control"
        f" differ only by chance; the difference with the control group drawn by"
        f" {len(salts)} salts (the policy's first):"
    )
    actions = [a for a in replay.actions if a.at_seconds >= score_from]
    print(
        format_placebo(
            placebo_uplift(actions, returns, horizon, control.share, salts), horizon_days
        )
    )
