"""Payloads of the three action kinds (pure): re-recommend, push and coupon."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from stream_app.clock import SECONDS_PER_DAY
from stream_app.events.alert import iso
from stream_app.events.schema import utc_from_seconds
from stream_app.policy.config import CouponPolicy, ReRecommend
from stream_app.schedule.alerts import top_categories, user_category_names
from stream_app.state import UserState

RECENCY_DECAY = 0.8  # weight of an event relative to the next newer one
_UNKNOWN_BUCKET = "bucket-"


def recent_category_scores(state: UserState) -> dict[str, float]:
    """Recency-weighted share of each category in the user's recent ring."""
    scores: dict[str, float] = {}
    for age, event in enumerate(reversed(state.recent)):
        if event.category_id:
            scores[event.category_id] = scores.get(event.category_id, 0.0) + RECENCY_DECAY**age
    total = sum(scores.values())
    return {c: s / total for c, s in scores.items()} if total else {}


def model_category_scores(
    state: UserState, silent_seconds: float, known: Mapping[int, str], limit: int
) -> dict[str, float]:
    """The model head's ranking (real category ids only) as reciprocal-rank shares."""
    if state.model is None:
        return {}
    names = {**known, **user_category_names(state)}
    ranked = top_categories(state.model, silent_seconds, names, limit)
    ranked = [c for c in ranked if not c.startswith(_UNKNOWN_BUCKET)]
    raw = {c: 1.0 / (rank + 1) for rank, c in enumerate(ranked)}
    total = sum(raw.values())
    return {c: s / total for c, s in raw.items()} if total else {}


def blended_categories(
    state: UserState, silent_seconds: float, known: Mapping[int, str], spec: ReRecommend
) -> list[str]:
    """`spec.categories` ids: model head (weight `model_weight`) blended with recent categories."""
    model = model_category_scores(state, silent_seconds, known, 3 * spec.categories)
    recent = recent_category_scores(state)
    weight = spec.model_weight if model else 0.0
    blend = {
        c: weight * model.get(c, 0.0) + (1 - weight) * recent.get(c, 0.0)
        for c in set(model) | set(recent)
    }
    return sorted(blend, key=lambda c: (-blend[c], c))[: spec.categories]


def recent_items(state: UserState, limit: int) -> list[str]:
    """Distinct item ids of the newest events, newest first."""
    items: list[str] = []
    for event in reversed(state.recent):
        if len(items) >= limit:
            break
        if event.item_id not in items:
            items.append(event.item_id)
    return items


def re_recommend_payload(
    state: UserState, silent_seconds: float, known: Mapping[int, str], spec: ReRecommend
) -> dict[str, Any]:
    """`{"categories": [...], "items": [...]}`."""
    return {
        "categories": blended_categories(state, silent_seconds, known, spec),
        "items": recent_items(state, spec.items),
    }


def push_payload(
    template_id: str, state: UserState, silent_seconds: float, categories: list[str]
) -> dict[str, Any]:
    """`{"template_id": ..., "params": {"category", "item_id", "days_silent"}}`."""
    items = recent_items(state, 1)
    return {
        "template_id": template_id,
        "params": {
            "category": categories[0] if categories else None,
            "item_id": items[0] if items else None,
            "days_silent": int(max(silent_seconds, 0.0) // SECONDS_PER_DAY),
        },
    }


def coupon_id(action_id: str) -> str:
    """Idempotent coupon code: the same action always gives the same coupon."""
    return "CPN-" + hashlib.sha256(f"coupon|{action_id}".encode()).hexdigest()[:16].upper()


def coupon_payload(
    action_id: str, tier: str, coupon: CouponPolicy, now_seconds: float
) -> dict[str, Any]:
    """`{"coupon_id", "value", "currency", "expires_at"}` (value by tier)."""
    expires = utc_from_seconds(now_seconds + coupon.expiry_days * SECONDS_PER_DAY)
    return {
        "coupon_id": coupon_id(action_id),
        "value": coupon.value[tier],
        "currency": coupon.currency,
        "expires_at": iso(expires),
    }
