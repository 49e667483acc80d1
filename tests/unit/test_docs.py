"""The README and docs/: examples the current code produces and validates, links that resolve."""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from stream_app.contracts import contracts
from stream_app.events.alert import alert_id
from stream_app.policy.payloads import coupon_id
from stream_app.policy.records import ActionKind, action_id
from stream_app.settings import Settings

REPO = Path(__file__).resolve().parents[2]
CONTRACTS = REPO / "docs" / "contracts.md"
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
LINK = re.compile(r"\[[^\]]+\]\(([^)\s]+)\)")
HEADING = re.compile(r"^(#+) (.+)$")


def example(section: str) -> dict[str, Any]:
    """The first JSON block of a section of docs/contracts.md."""
    text = CONTRACTS.read_text(encoding="utf-8")
    start = text.index(f"\n{section}\n")
    block = text.index("```json\n", start) + len("```json\n")
    value: dict[str, Any] = json.loads(text[block : text.index("```", block)])
    return value


def validator(topic: str) -> Draft202012Validator:
    """The current schema of a topic, as `schemas register` publishes it."""
    by_topic = {c.topic: c for c in contracts(Settings.model_construct())}
    return Draft202012Validator(json.loads(by_topic[topic].schema_text()))


def test_the_alert_example_validates_against_the_alerts_schema() -> None:
    alert = example("## Alerts (`decay.alerts`)")
    errors = [e.message for e in validator("decay.alerts").iter_errors(alert)]
    assert errors == []


def test_the_action_example_validates_against_the_actions_schema() -> None:
    action = example("## Actions (`decay.actions`)")
    errors = [e.message for e in validator("decay.actions").iter_errors(action)]
    assert errors == []


def test_the_examples_carry_the_ids_the_code_derives() -> None:
    alert = example("## Alerts (`decay.alerts`)")
    episode = datetime.fromisoformat(alert["last_event_at"]).timestamp()
    assert alert["alert_id"] == alert_id(alert["user_id"], alert["level"], episode)
    action = example("## Actions (`decay.actions`)")
    assert action["alert_id"] == alert["alert_id"]
    expected = action_id(action["user_id"], ActionKind(action["kind"]), action["alert_id"])
    assert action["action_id"] == expected
    assert action["payload"]["coupon_id"] == coupon_id(expected)


def test_a_stale_example_fails_its_schema() -> None:
    alert = example("## Alerts (`decay.alerts`)") | {"alert_id": "4c1f0a…", "level": "silent"}
    assert len(list(validator("decay.alerts").iter_errors(alert))) == 2


def slug(title: str) -> str:
    """GitHub's anchor of a heading."""
    return re.sub(r"[^\w\- ]", "", title.strip().lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    found: set[str] = set()
    fenced = False
    for line in page.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and (m := HEADING.match(line)):
            found.add(slug(m.group(2)))
    return found


def broken_links(page: Path) -> list[str]:
    broken = []
    for target in LINK.findall(page.read_text(encoding="utf-8")):
        if re.match(r"^[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists() or (file.suffix == ".md" and anchor and anchor not in anchors(file)):
            broken.append(target)
    return broken


def test_every_link_of_the_readme_and_the_docs_resolves() -> None:
    assert {page.name: broken_links(page) for page in PAGES} == {page.name: [] for page in PAGES}


def test_a_moved_section_is_a_broken_link(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("## Here\n\n[a](#here) [b](#gone) [c](missing.md#x) [d](page.md#here)\n")
    assert broken_links(page) == ["#gone", "missing.md#x"]
