"""Action records validate against the committed schema `action.v1.json`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator, ValidationError

from stream_app.policy import Action, ActionHistory, BudgetState, Policy, decide_actions
from tests.unit.policy.builders import NOON, T0, alert, control_user, treated_user, user

SCHEMA = Path(__file__).resolve().parents[3] / "stream_app" / "schemas" / "action.v1.json"
VALIDATOR = Draft202012Validator(
    json.loads(SCHEMA.read_text()), format_checker=Draft202012Validator.FORMAT_CHECKER
)


def actions(policy: Policy) -> list[Action]:
    out: list[Action] = []
    for uid in (treated_user(policy), control_user(policy)):
        for level in ("warning", "at_risk", "critical"):
            trigger = alert(uid, level)
            out += decide_actions(
                uid, trigger, user(3, 100.0), policy, NOON, BudgetState(), ActionHistory()
            ).actions
        shifted = user(categories=("MUG",) * 12 + ("TOY",) * 5)
        out += decide_actions(
            uid, None, shifted, policy, T0, BudgetState(), ActionHistory()
        ).actions
    return out


def test_schema_is_valid() -> None:
    Draft202012Validator.check_schema(json.loads(SCHEMA.read_text()))


def test_every_kind_validates(policy: Policy) -> None:
    records = actions(policy)
    assert {(a.kind.value, a.control) for a in records} == {
        (k, c) for k in ("re_recommend", "push", "coupon") for c in (False, True)
    }
    for action in records:
        body = json.loads(action.to_json())
        VALIDATOR.validate(body)
        assert body["schema_version"] == 1


def test_schema_rejects_a_payload_of_another_kind(policy: Policy) -> None:
    coupon = next(a for a in actions(policy) if a.kind.value == "coupon")
    body = json.loads(coupon.to_json())
    body["payload"] = {"categories": [], "items": []}
    with pytest.raises(ValidationError):
        VALIDATOR.validate(body)
