"""The README and docs/: examples the current code produces and validates, links that resolve."""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import onnxruntime as ort
from jsonschema import Draft202012Validator

from stream_app.cli import COMMANDS, build_parser
from stream_app.contracts import contracts
from stream_app.events.alert import alert_id
from stream_app.model.contract import META_MODEL_VERSION
from stream_app.paths import DEFAULT_MODEL_PATH
from stream_app.policy.payloads import coupon_id
from stream_app.policy.records import ActionKind, action_id
from stream_app.settings import Settings

REPO = Path(__file__).resolve().parents[2]
CONTRACTS = REPO / "docs" / "contracts.md"
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
LINK = re.compile(r"\[[^\]]+\]\(([^)\s]+)\)")
HEADING = re.compile(r"^(#+) (.+)$")
MODEL_VERSION = re.compile(r"\b\d+\.\d+\+[0-9a-f]{10}\b")


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


def model_version(path: Path) -> str:
    """The version an ONNX step graph declares in its metadata, as the worker reads it."""
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return str(session.get_modelmeta().custom_metadata_map[META_MODEL_VERSION])


def stale_versions(text: str, shipped: set[str]) -> list[str]:
    """The model versions a page quotes that no shipped model has."""
    return [v for v in MODEL_VERSION.findall(text) if v not in shipped]


def test_the_readme_quotes_the_served_model_and_the_docs_only_shipped_ones() -> None:
    shipped = {model_version(path) for path in (REPO / "models").rglob("decay_step.onnx")}
    served = model_version(DEFAULT_MODEL_PATH)
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert set(MODEL_VERSION.findall(readme)) == {served}
    quoted = {
        page.name: stale_versions(page.read_text(encoding="utf-8"), shipped) for page in PAGES
    }
    assert quoted == {page.name: [] for page in PAGES}


def test_a_version_no_model_has_is_stale() -> None:
    text = "model 3.1+19bacec1bc, then model 3.2+f071910560"
    assert stale_versions(text, {"3.2+f071910560"}) == ["3.1+19bacec1bc"]


OPERATIONS = REPO / "docs" / "operations.md"
SHOWN_OPTION = re.compile(r"(--[a-z][a-z-]*)(?: ([^\]\s]+))?")


def parser_options(parser: argparse.ArgumentParser, prefix: str = "") -> dict[str, dict[str, Any]]:
    """Each command (`policy simulate` for a nested one) → its long options and their defaults."""
    found: dict[str, dict[str, Any]] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found |= parser_options(sub, f"{prefix}{name} ")
    if prefix:
        found[prefix.strip()] = {
            option: action.default
            for action in parser._actions
            for option in action.option_strings
            if option.startswith("--") and option != "--help"
        }
    return found


def shown_options(command: str) -> dict[str, str | None]:
    """The options of a command's row in docs/operations.md's Commands table, with the value shown."""
    row = next(
        line
        for line in OPERATIONS.read_text(encoding="utf-8").splitlines()
        if re.match(rf"^\| `decay-stream {re.escape(command)}[ `]", line)
    )
    usage = row.split("`")[1]
    return {m.group(1): m.group(2) for m in SHOWN_OPTION.finditer(usage)}


def drift(shown: Mapping[str, str | None], options: Mapping[str, Any]) -> list[str]:
    """Options shown that the parser lacks or lacks shown, and defaults shown that differ."""
    problems = [f"{o}: not an option" for o in shown.keys() - options.keys()]
    problems += [f"{o}: not shown" for o in options.keys() - shown.keys()]
    for option, value in shown.items():
        if value is None or value.isupper() or option not in options:
            continue  # a placeholder (N, FILE), not a default
        default = options[option]
        expected = f"{default:g}" if isinstance(default, float) else str(default)
        if value != expected:
            problems.append(f"{option}: shown {value}, default {default}")
    return sorted(problems)


def test_the_commands_table_shows_every_option_of_every_command_and_its_default() -> None:
    commands = parser_options(build_parser())
    assert set(commands) >= set(COMMANDS)
    problems = {name: drift(shown_options(name), commands[name]) for name in COMMANDS}
    assert problems == {name: [] for name in COMMANDS}


def test_an_option_or_a_default_that_drifted_is_named() -> None:
    options = {"--source": "online-retail", "--limit": 3000, "--days-per-second": 2.0}
    shown = {"--source": "taobao-slice", "--limit": "20000", "--speed": "F"}
    assert drift(shown, options) == [
        "--days-per-second: not shown",
        "--limit: shown 20000, default 3000",
        "--source: shown taobao-slice, default online-retail",
        "--speed: not an option",
    ]
