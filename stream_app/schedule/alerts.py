"""Deciding and building alerts from a user's state at a point in time (pure)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from stream_app.clock import SECONDS_PER_DAY
from stream_app.events.alert import Alert, alert_id, iso
from stream_app.events.schema import utc_from_seconds
from stream_app.model.features import category_bucket
from stream_app.model.survival import component_strength
from stream_app.schedule.levels import (
    AlertLevel,
    DecayModel,
    Thresholds,
    level_reached,
    peak_probabilities,
    probability_after_silence,
)
from stream_app.state import ModelState, UserState

TOP_CATEGORIES = 5


def top_categories(
    model: ModelState,
    silent_seconds: float,
    known: Mapping[int, str],
    limit: int = TOP_CATEGORIES,
    shape: np.ndarray | None = None,
) -> list[str]:
    """Category ids ranked by interest λ_k(τ) after the silence (fast components fade first).

    Buckets map back to a category id seen for them (the user's own first, then `known`).
    """
    tau_days = max(silent_seconds, 0.0) / SECONDS_PER_DAY
    strength = component_strength(
        np.asarray(model.mu, np.float64),
        np.asarray(model.alpha, np.float64),
        np.asarray(model.beta, np.float64),
        tau_days,
        shape,
    )
    interest: dict[int, float] = {}
    for g, component in zip(strength, model.top_buckets, strict=False):
        for bucket, weight in component:
            interest[bucket] = interest.get(bucket, 0.0) + float(g) * weight
    ranked = sorted((b for b in interest if b != 0), key=lambda b: -interest[b])
    return [known.get(b, f"bucket-{b}") for b in ranked[:limit]]


def user_category_names(state: UserState) -> dict[int, str]:
    """Bucket → category id from the user's recent events (latest wins)."""
    return {category_bucket(r.category_id): r.category_id for r in state.recent if r.category_id}


def alerts_due(
    user_id: str,
    state: UserState,
    decay: DecayModel,
    thresholds: Thresholds,
    now_seconds: float,
    known_categories: Mapping[int, str],
) -> tuple[list[Alert], int]:
    """The alert for the highest level newly reached by now in the current episode (lower
    levels reached at the same time are named in it as skipped), and the level reached."""
    if state.model is None or state.last_event_seconds is None:
        return [], state.alert_level
    reached = level_reached(state, decay, thresholds, now_seconds)
    if reached <= state.alert_level:
        return [], state.alert_level
    silent = now_seconds - state.last_event_seconds
    probability = probability_after_silence(state, decay, silent)
    peak = max(float(peak_probabilities([state], decay)[0]), probability)
    names = {**known_categories, **user_category_names(state)}
    level = AlertLevel(reached).label
    alert = Alert(
        alert_id=alert_id(user_id, level, state.last_event_seconds),
        user_id=user_id,
        level=level,
        return_probability=round(probability, 6),
        horizon_days=decay.horizon_days,
        silent_for_s=round(silent, 3),
        last_event_at=iso(utc_from_seconds(state.last_event_seconds)),
        top_categories=top_categories(
            state.model, silent, names, shape=decay.shape_for(state.model)
        ),
        model_version=state.model.version,
        emitted_at=iso(utc_from_seconds(now_seconds)),
        relative_probability=round(probability / peak, 6) if peak > 0 else 0.0,
        peak_return_probability=round(peak, 6),
        skipped_levels=[AlertLevel(lv).label for lv in range(state.alert_level + 1, reached)],
    )
    return [alert], reached
