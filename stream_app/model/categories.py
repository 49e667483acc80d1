"""The served next-category ranking (pure numpy): head interest blended with recent categories.

The head's category interest λ_k(τ) (`stream_app.model.survival.category_intensity`) is blended
with the user's own time-decayed category frequency over their recent events:

    score_k = λ_k(τ) / Σ_j λ_j(τ)  +  w · f_k / Σ_j f_j,   f_k = Σ_{recent e with bucket k} 2^(−age_e / h)

with `w` (weight) and `h` (half-life, days) tuned on validation and shipped in the model's
metadata (`decay_stream.category_blend`). Bucket 0 ("no category") is never recommended. The
same functions score the evaluation and the worker, so the reported Recall@10 is what is served.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import numpy as np
import numpy.typing as npt

from stream_app.clock import SECONDS_PER_DAY
from stream_app.model.contract import CATEGORY_BUCKETS

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class CategoryBlend:
    """Blend parameters; weight 0 ranks by the head alone."""

    weight: float = 0.0
    half_life_days: float = 30.0
    recent_events: int = 50  # how many of the user's latest events the frequency looks at

    def __post_init__(self) -> None:
        if self.weight < 0 or self.half_life_days <= 0 or self.recent_events < 1:
            raise ValueError(f"invalid category blend {self}")

    def to_json(self) -> str:
        """Metadata value."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> CategoryBlend:
        """Parse a metadata value."""
        raw = json.loads(text)
        return cls(
            float(raw["weight"]), float(raw["half_life_days"]), int(raw.get("recent_events", 50))
        )


def decayed_frequency(
    recent_buckets: npt.ArrayLike,
    recent_ts_seconds: npt.ArrayLike,
    now_seconds: float,
    half_life_days: float,
    buckets: int = CATEGORY_BUCKETS,
) -> F64:
    """Normalised time-decayed frequency (K,) of one user's recent category buckets."""
    b = np.asarray(recent_buckets, np.int64).reshape(-1)
    ts = np.asarray(recent_ts_seconds, np.float64).reshape(-1)
    rows = np.zeros(len(b), np.int64)
    now = np.array([now_seconds], np.float64)
    out: F64 = decayed_frequency_matrix(rows, b, ts, now, half_life_days, buckets)[0]
    return out


def decayed_frequency_matrix(
    user_row: I64,
    bucket: I64,
    ts_seconds: F64,
    now_seconds: F64,
    half_life_days: float,
    buckets: int = CATEGORY_BUCKETS,
) -> F64:
    """`decayed_frequency` of many users at once: events tagged by user row, (U, K) out."""
    age_days = np.maximum(now_seconds[user_row] - ts_seconds, 0.0) / SECONDS_PER_DAY
    out = np.zeros((len(now_seconds), buckets), np.float64)
    np.add.at(out, (user_row, bucket), np.exp2(-age_days / half_life_days))
    return _normalise(out)


def _normalise(x: F64) -> F64:
    total = x.sum(axis=-1, keepdims=True)
    out: F64 = np.where(total > 0, x / np.where(total > 0, total, 1.0), 0.0)
    return out


def blend_scores(lambda_k: npt.ArrayLike, personal: npt.ArrayLike, weight: float) -> F64:
    """score = λ/Σλ + weight·personal for (..., K) arrays; bucket 0 gets −inf."""
    lam = np.maximum(np.asarray(lambda_k, np.float64), 0.0)
    score = _normalise(lam) + weight * np.asarray(personal, np.float64)
    score[..., 0] = -np.inf
    return score


def rank_categories(
    lambda_k: npt.ArrayLike,
    recent_buckets: npt.ArrayLike,
    recent_ts_seconds: npt.ArrayLike,
    now_seconds: float,
    blend: CategoryBlend,
    top: int = 10,
) -> I64:
    """The served top-`top` category buckets of one user, best first.

    `lambda_k` (K,) is the head's interest at the current silence (zeros where the worker keeps
    no value); the recent events are the user's latest `blend.recent_events` events.
    """
    n = blend.recent_events
    b = np.asarray(recent_buckets, np.int64).reshape(-1)[-n:]
    ts = np.asarray(recent_ts_seconds, np.float64).reshape(-1)[-n:]
    lam = np.asarray(lambda_k, np.float64)
    personal = decayed_frequency(b, ts, now_seconds, blend.half_life_days, lam.shape[-1])
    score = blend_scores(lam, personal, blend.weight)
    order: I64 = np.argsort(-score, kind="stable")[:top].astype(np.int64)
    return order
