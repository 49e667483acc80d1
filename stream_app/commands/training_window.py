"""What a model was trained on, from the `metrics.json` beside its graph, against a replay.

`export train` writes the split it used: its last labelled cutoff plus the horizon H is the
time the training data (events and labels) reaches. Alerts scored before that time are in
sample: the model has seen what happened to those users next.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

from stream_app.events.schema import utc_from_seconds


def training_end(model_path: Path) -> datetime | None:
    """When the model's training data ends (None: no readable metrics.json beside it)."""
    try:
        split = json.loads((model_path.parent / "metrics.json").read_text())["split"]
        cutoff = datetime.fromisoformat(split["latest_labelled_cutoff"])
        return cutoff + timedelta(days=float(split["horizon_days"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def overlap_note(model_path: Path, scored_from_seconds: float) -> str:
    """One line: whether the scored alerts lie after the model's training data."""
    end = training_end(model_path)
    start = utc_from_seconds(scored_from_seconds)
    if end is None:
        return f"training data of the model unknown (no metrics.json beside {model_path})"
    if start < end:
        return (
            f"IN SAMPLE: the model's training data reaches {end:%Y-%m-%d} and the scored alerts "
            f"start {start:%Y-%m-%d}: its numbers flatter the model (a model trained on events"
            " before --score-from gives an out-of-sample table)"
        )
    return (
        f"out of sample: the model's training data ends {end:%Y-%m-%d}, the scored alerts "
        f"start {start:%Y-%m-%d}"
    )
