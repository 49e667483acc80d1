"""The global coupon budget as a token bucket: a pure value type (state in → state out)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

SECONDS_PER_HOUR = 3_600.0


@dataclass(frozen=True, slots=True)
class BucketSpec:
    """Capacity (tokens) and refill rate (tokens per hour) of a bucket."""

    capacity: float
    refill_per_hour: float

    def split(self, parts: int) -> BucketSpec:
        """An equal share, for `parts` independent buckets that together never exceed this one."""
        if parts < 1:
            raise ValueError("parts must be at least 1")
        return BucketSpec(self.capacity / parts, self.refill_per_hour / parts)


@dataclass(frozen=True, slots=True)
class BudgetState:
    """Tokens left and the time they were counted; `updated_seconds=None` means a full bucket."""

    tokens: float = 0.0
    updated_seconds: float | None = None

    def to_json_dict(self) -> dict[str, float | None]:
        """Wire form for a table value."""
        return {"tokens": self.tokens, "updated": self.updated_seconds}

    @classmethod
    def from_json_dict(cls, body: Mapping[str, float | None] | None) -> BudgetState:
        """Inverse of `to_json_dict`; None is a fresh (full) bucket."""
        if not body:
            return cls()
        tokens = body.get("tokens")
        return cls(float(tokens or 0.0), body.get("updated"))


def refill(state: BudgetState, spec: BucketSpec, now_seconds: float) -> BudgetState:
    """Tokens at `now_seconds` (never above capacity; time going backwards adds nothing)."""
    if state.updated_seconds is None:
        return BudgetState(spec.capacity, now_seconds)
    elapsed = max(now_seconds - state.updated_seconds, 0.0)
    tokens = min(spec.capacity, state.tokens + elapsed * spec.refill_per_hour / SECONDS_PER_HOUR)
    return BudgetState(tokens, max(now_seconds, state.updated_seconds))


def available(state: BudgetState, spec: BucketSpec, now_seconds: float, cost: float = 1.0) -> bool:
    """Whether `cost` tokens could be taken now (nothing is taken)."""
    return refill(state, spec, now_seconds).tokens >= cost - 1e-9


def try_take(
    state: BudgetState, spec: BucketSpec, now_seconds: float, cost: float = 1.0
) -> tuple[bool, BudgetState]:
    """Take `cost` tokens if there are enough: (taken, new state)."""
    current = refill(state, spec, now_seconds)
    if current.tokens < cost - 1e-9:
        return False, current
    return True, BudgetState(max(current.tokens - cost, 0.0), current.updated_seconds)
