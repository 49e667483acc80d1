"""The policy file: the default loads; every kind of bad file gets an error naming its key."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from stream_app.policy import ActionKind, Policy, PolicyError, load_policy, parse_policy
from tests.unit.policy.builders import DEFAULT_POLICY, NOON, user


def test_default_policy_loads_with_the_documented_choices() -> None:
    policy = load_policy(DEFAULT_POLICY)  # tuned on data: see the comments in the file
    assert [t.name for t in policy.tiers] == ["vip", "regular", "new"]
    assert policy.kinds_for("warning", "new") == (ActionKind.RE_RECOMMEND,)
    assert policy.kinds_for("at_risk", "new") == (ActionKind.PUSH,)  # 1.5 usual gaps silent
    assert policy.kinds_for("at_risk", "regular") == (ActionKind.PUSH,)
    assert policy.kinds_for("at_risk", "vip") == (ActionKind.PUSH, ActionKind.COUPON)
    assert policy.kinds_for("critical", "new") == (ActionKind.PUSH, ActionKind.COUPON)
    assert policy.cooldown_days.seconds(ActionKind.COUPON) == 30 * 86_400
    assert (policy.coupon.budget.capacity, policy.coupon.budget.refill_per_hour) == (48, 0.5)
    assert policy.coupon.value == {"new": 3.0, "regular": 5.0, "vip": 10.0}
    assert policy.control.share == 0.1
    assert policy.quiet_hours is not None and policy.quiet_hours.timezone == "Europe/London"


def test_rules_policy_of_these_tests(policy: Policy) -> None:
    assert policy.kinds_for("at_risk", "vip") == (ActionKind.PUSH,)
    assert policy.kinds_for("critical", "regular") == (ActionKind.COUPON,)
    assert policy.kinds_for("critical", "new") == ()
    assert policy.cooldown_days.seconds(ActionKind.PUSH) == 3 * 86_400
    assert policy.coupon.budget.capacity == 50


def test_policy_is_frozen(policy: Policy) -> None:
    with pytest.raises(Exception, match="frozen"):
        policy.version = 2  # type: ignore[assignment,misc]


@pytest.mark.parametrize(
    ("purchases", "spend", "tier"),
    [(0, 0.0, "new"), (1, 500.0, "new"), (2, 0.0, "regular"), (10, 1999.0, "regular"),
     (10, 2000.0, "vip"), (50, 9000.0, "vip")],
)  # fmt: skip
def test_tiers_from_purchases_and_spend(
    policy: Policy, purchases: int, spend: float, tier: str
) -> None:
    assert policy.tier_of(user(purchases, spend)).name == tier


def test_a_single_kind_or_a_list_of_kinds(edit: Callable[..., Policy]) -> None:
    policy = edit(triggers={"critical": {"vip": ["coupon", "push"], "new": "push"}})
    assert policy.kinds_for("critical", "vip") == (ActionKind.COUPON, ActionKind.PUSH)
    assert policy.kinds_for("critical", "new") == (ActionKind.PUSH,)
    assert policy.kinds_for("critical", "regular") == ()  # a tier left out gets nothing


@pytest.mark.parametrize(
    ("hour_utc", "quiet"),
    [(21, False), (22, True), (23, True), (0, True), (7, True), (8, False), (12, False)],
)
def test_quiet_hours_wrap_past_midnight(policy: Policy, hour_utc: int, quiet: bool) -> None:
    assert policy.quiet_hours is not None
    day_start = NOON - 12 * 3600  # 2011-03-13 00:00 UTC = London local (GMT)
    assert policy.quiet_hours.contains(day_start + hour_utc * 3600) is quiet


def test_quiet_hours_follow_the_local_time_zone(edit: Callable[..., Policy]) -> None:
    policy = edit(quiet_hours={"timezone": "Asia/Shanghai", "start_hour": 12, "end_hour": 14})
    assert policy.quiet_hours is not None
    assert policy.quiet_hours.contains(NOON - 7 * 3600)  # 05:00 UTC = 13:00 in Shanghai
    assert not policy.quiet_hours.contains(NOON)


BAD_FILES: list[tuple[str, dict[str, Any], str]] = [
    ("unknown top-level key", {"coupons": {}}, "coupons: unknown key"),
    ("unknown nested key", {"cooldown_days": {"sms": 1}}, "cooldown_days.sms: unknown key"),
    ("wrong type", {"coupon": {"expiry_days": "two weeks"}}, "coupon.expiry_days: Input should be a valid number"),
    ("negative cooldown", {"cooldown_days": {"push": -1}}, "cooldown_days.push: Input should be greater than or equal to 0"),
    ("control share above 1", {"control": {"share": 1.5}}, "control.share: Input should be less than or equal to 1"),
    ("negative control share", {"control": {"share": -0.1}}, "control.share: Input should be greater than or equal to 0"),
    ("empty salt", {"control": {"salt": ""}}, "control.salt"),
    ("unknown action kind", {"triggers": {"critical": {"vip": "sms"}}}, "triggers.critical.vip.0: Input should be 're_recommend', 'push' or 'coupon'"),
    ("unknown level", {"triggers": {"urgent": {"vip": "push"}}}, "triggers.urgent: Input should be 'warning', 'at_risk' or 'critical'"),
    ("unknown tier in triggers", {"triggers": {"warning": {"gold": "push"}}}, "triggers.warning.gold: unknown tier 'gold'"),
    ("bad timezone", {"quiet_hours": {"timezone": "Mars/Olympus"}}, "quiet_hours.timezone: unknown time zone 'Mars/Olympus'"),
    ("hour out of range", {"quiet_hours": {"end_hour": 24}}, "quiet_hours.end_hour: Input should be less than or equal to 23"),
    ("empty quiet hours", {"quiet_hours": {"start_hour": 8, "end_hour": 8}}, "start_hour and end_hour must differ"),
    ("coupon without a value for the tier", {"coupon": {"value": {"vip": 10.0}}}, "triggers.critical.regular: coupon needs coupon.value.regular"),
    ("push without a template", {"push": {"templates": {"critical": "x"}}}, "triggers.at_risk.new: push needs push.templates.at_risk"),
    ("zero coupon value", {"coupon": {"value": {"regular": 0, "vip": 1}}}, "coupon.value.regular: Input should be greater than 0"),
    ("negative budget", {"coupon": {"budget_capacity": -5}}, "coupon.budget_capacity"),
    ("bad currency", {"coupon": {"currency": "pounds"}}, "coupon.currency"),
    ("migration threshold above 1", {"migration": {"threshold": 1.5}}, "migration.threshold"),
    ("missing section", {"cooldown_days": None}, "cooldown_days: missing key"),
    ("missing key", {"control": {"share": 0.1}, "coupon": {"expiry_days": None}}, "coupon.expiry_days"),
    ("wrong version", {"version": 2}, "version: Input should be 1"),
    ("no catch-all tier", {"tiers": [{"name": "vip", "min_purchases": 1}]}, "the last tier ('vip') must match everyone"),
    ("duplicate tier", {"tiers": [{"name": "new"}, {"name": "new"}]}, "duplicate tier name"),
    ("bad tier name", {"tiers": [{"name": "Big Spenders"}]}, "tiers.0.name"),
    ("negative min purchases", {"tiers": [{"name": "new", "min_purchases": -1}]}, "tiers.0.min_purchases"),
    ("re-recommend of zero categories", {"re_recommend": {"categories": 0}}, "re_recommend.categories"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "change", "message"), BAD_FILES, ids=[c[0] for c in BAD_FILES])
def test_bad_policy_gets_a_clear_error(
    policy_body: dict[str, Any], case: str, change: dict[str, Any], message: str
) -> None:
    body = dict(policy_body)
    for key, value in change.items():
        if value is None:
            body.pop(key)
        elif isinstance(value, dict) and isinstance(body.get(key), dict):
            merged = {**body[key], **value}
            body[key] = {k: v for k, v in merged.items() if v is not None}
        else:
            body[key] = value
    with pytest.raises(PolicyError) as info:
        parse_policy(body, "bad.toml")
    text = str(info.value)
    assert text.startswith("bad.toml: invalid policy")
    assert message in text, text


def test_every_problem_is_listed(policy_body: dict[str, Any]) -> None:
    body = {**policy_body, "cooldown_days": {"re_recommend": -1, "push": -2, "coupon": 1}}
    with pytest.raises(PolicyError) as info:
        parse_policy(body)
    assert "cooldown_days.re_recommend" in str(info.value)
    assert "cooldown_days.push" in str(info.value)


def test_file_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="policy file not found"):
        load_policy(tmp_path / "missing.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("[control\nshare = 0.1\n")
    with pytest.raises(PolicyError, match=r"broken\.toml: not valid TOML"):
        load_policy(broken)


def test_quiet_hours_are_optional(policy_body: dict[str, Any]) -> None:
    body = {k: v for k, v in policy_body.items() if k != "quiet_hours"}
    assert parse_policy(body).quiet_hours is None


def test_default_file_is_the_one_deployed() -> None:
    assert DEFAULT_POLICY.is_file()
