"""Fixtures of the policy tests: the rules policy (`rules.toml`), and edited copies of it."""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from typing import Any

import pytest

from stream_app.policy import Policy, load_policy, parse_policy
from tests.unit.policy.builders import RULES_POLICY


@pytest.fixture
def policy() -> Policy:
    return load_policy(RULES_POLICY)


@pytest.fixture
def policy_body() -> dict[str, Any]:
    return tomllib.loads(RULES_POLICY.read_text())


@pytest.fixture
def edit() -> Callable[..., Policy]:
    """The rules policy with some sections replaced: edit(control={"share": 0, ...})."""

    def build(**changes: Any) -> Policy:
        body = tomllib.loads(RULES_POLICY.read_text())
        for key, value in changes.items():
            if value is None:
                body.pop(key, None)
            elif isinstance(value, dict) and isinstance(body.get(key), dict):
                body[key] = {**body[key], **value}
            else:
                body[key] = value
        return parse_policy(body)

    return build
