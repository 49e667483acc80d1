"""The policy file (TOML) → a frozen, validated `Policy`; errors name the offending key.

See `stream_app/resources/policy/default.toml` for the documented format.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from stream_app.clock import SECONDS_PER_DAY
from stream_app.policy.budget import BucketSpec
from stream_app.policy.exceptions import PolicyError
from stream_app.policy.records import ActionKind
from stream_app.state import UserState

LevelName = Literal["warning", "at_risk", "critical"]
TierName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")]


def _as_tuple(value: Any) -> Any:
    """A single kind may be written without brackets."""
    return (value,) if isinstance(value, str) else value


Kinds = Annotated[tuple[ActionKind, ...], BeforeValidator(_as_tuple)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)


class Tier(_Section):
    """A user-value tier: every condition must hold (None: no spend condition)."""

    name: TierName
    min_purchases: int = Field(0, ge=0)
    min_spend: float | None = None

    @property
    def catch_all(self) -> bool:
        """True when every user matches."""
        return self.min_purchases == 0 and self.min_spend is None

    def matches(self, state: UserState) -> bool:
        """Whether the user's purchase counter and spend reach this tier."""
        if state.purchases_total < self.min_purchases:
            return False
        return self.min_spend is None or state.spend_total >= self.min_spend


class Cooldowns(_Section):
    """Minimum days between two actions of one kind for one user."""

    re_recommend: float = Field(ge=0)
    push: float = Field(ge=0)
    coupon: float = Field(ge=0)

    def seconds(self, kind: ActionKind) -> float:
        """Cooldown of `kind` in seconds."""
        days: float = getattr(self, kind.value)
        return days * SECONDS_PER_DAY


class CouponPolicy(_Section):
    """Coupon values per tier, expiry, and the global budget (token bucket)."""

    budget_capacity: float = Field(ge=0)
    budget_refill_per_hour: float = Field(ge=0)
    expiry_days: float = Field(gt=0)
    currency: str = Field("GBP", pattern=r"^[A-Z]{3}$")
    value: dict[TierName, Annotated[float, Field(gt=0)]] = Field(default_factory=dict)

    @property
    def budget(self) -> BucketSpec:
        """The bucket spec of the global coupon budget."""
        return BucketSpec(self.budget_capacity, self.budget_refill_per_hour)


class PushPolicy(_Section):
    """Push template id per alert level."""

    templates: dict[LevelName, Annotated[str, Field(min_length=1, max_length=128)]]


class ControlPolicy(_Section):
    """Randomized hold-out: the share of users, by a salted hash of the user id."""

    share: float = Field(ge=0, le=1)
    salt: str = Field(min_length=1)


class QuietHours(_Section):
    """Local hours [start, end) during which `kinds` are held back (wrapping past midnight).

    `defer` (the default): an action decided then is delivered at the end of the window
    (`deliver_after`); `drop`: it is skipped (reason `quiet_hours`).
    """

    timezone: str
    start_hour: int = Field(ge=0, le=23)
    end_hour: int = Field(ge=0, le=23)
    kinds: Kinds = (ActionKind.PUSH,)
    mode: Literal["defer", "drop"] = "defer"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use an IANA name)") from None
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> QuietHours:
        if self.start_hour == self.end_hour:
            raise ValueError("start_hour and end_hour must differ")
        return self

    def contains(self, now_seconds: float) -> bool:
        """Whether `now_seconds` falls in the quiet hours, in local time."""
        hour = datetime.fromtimestamp(now_seconds, ZoneInfo(self.timezone)).hour
        if self.start_hour < self.end_hour:
            return self.start_hour <= hour < self.end_hour
        return hour >= self.start_hour or hour < self.end_hour

    def window_end(self, now_seconds: float) -> float:
        """The first `end_hour:00` local time after `now_seconds`: when the quiet window ends."""
        local = datetime.fromtimestamp(now_seconds, ZoneInfo(self.timezone))
        end = local.replace(hour=self.end_hour, minute=0, second=0, microsecond=0)
        if end <= local:
            end = (local + timedelta(days=1)).replace(
                hour=self.end_hour, minute=0, second=0, microsecond=0
            )
        return end.timestamp()


class Migration(_Section):
    """Interest migration: recent vs long-term category profile (Jensen–Shannon, base 2)."""

    enabled: bool = True
    threshold: float = Field(gt=0, le=1)
    recent_events: int = Field(ge=1)
    min_history_events: int = Field(ge=1)


class ReRecommend(_Section):
    """Size and blend of a re-recommend payload."""

    categories: int = Field(ge=1, le=20)
    items: int = Field(ge=0, le=20)
    model_weight: float = Field(ge=0, le=1)


class Policy(_Section):
    """The whole activation policy."""

    version: Literal[1]
    tiers: tuple[Tier, ...] = Field(min_length=1)
    triggers: dict[LevelName, dict[TierName, Kinds]]
    cooldown_days: Cooldowns
    coupon: CouponPolicy
    push: PushPolicy
    control: ControlPolicy
    migration: Migration
    re_recommend: ReRecommend
    quiet_hours: QuietHours | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Policy:
        names = [tier.name for tier in self.tiers]
        if len(set(names)) != len(names):
            raise ValueError(f"tiers: duplicate tier name in {names}")
        if not self.tiers[-1].catch_all:
            raise ValueError(
                f"tiers: the last tier ({names[-1]!r}) must match everyone "
                "(min_purchases = 0, no min_spend)"
            )
        for level, per_tier in self.triggers.items():
            for tier, kinds in per_tier.items():
                self._check_trigger(level, tier, kinds, names)
        return self

    def _check_trigger(
        self, level: str, tier: str, kinds: tuple[ActionKind, ...], names: list[str]
    ) -> None:
        where = f"triggers.{level}.{tier}"
        if tier not in names:
            raise ValueError(f"{where}: unknown tier {tier!r} (tiers: {', '.join(names)})")
        if ActionKind.COUPON in kinds and tier not in self.coupon.value:
            raise ValueError(f"{where}: coupon needs coupon.value.{tier}")
        if ActionKind.PUSH in kinds and level not in self.push.templates:
            raise ValueError(f"{where}: push needs push.templates.{level}")

    def tier_of(self, state: UserState) -> Tier:
        """The first tier (in file order) the user matches; the last one matches everyone."""
        return next(tier for tier in self.tiers if tier.matches(state))

    def kinds_for(self, level: str, tier: str) -> tuple[ActionKind, ...]:
        """Action kinds an alert of `level` triggers for a user of `tier` (may be none)."""
        per_tier = self.triggers.get(level, {})  # type: ignore[call-overload]
        kinds: tuple[ActionKind, ...] = per_tier.get(tier, ())
        return kinds


def parse_policy(body: Mapping[str, Any], source: str = "<policy>") -> Policy:
    """Validate a decoded policy document; PolicyError lists every problem with its key."""
    try:
        return Policy.model_validate(dict(body))
    except ValidationError as exc:
        problems = [_describe(error) for error in exc.errors()]
        raise PolicyError(f"{source}: invalid policy:\n  - " + "\n  - ".join(problems)) from None


def load_policy(path: Path | str) -> Policy:
    """Read and validate a TOML policy file."""
    path = Path(path)
    try:
        body = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PolicyError(f"{path}: policy file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"{path}: not valid TOML: {exc}") from None
    return parse_policy(body, str(path))


def _describe(error: Mapping[str, Any]) -> str:
    loc = ".".join(str(part) for part in error["loc"] if part != "[key]") or "(top level)"
    if error["type"] == "extra_forbidden":
        return f"{loc}: unknown key"
    if error["type"] == "missing":
        return f"{loc}: missing key"
    message = str(error["msg"]).removeprefix("Value error, ")
    value = error.get("input")
    if isinstance(value, dict | list):
        return f"{loc}: {message}"
    return f"{loc}: {message} (got {value!r})"
