"""Every published record validates against its committed JSON Schema."""

from __future__ import annotations

import json
from pathlib import Path

from jsonschema import Draft202012Validator

from stream_app.events.alert import Alert, alert_id

SCHEMAS = Path(__file__).resolve().parents[3] / "stream_app" / "schemas"


def test_schemas_are_valid_json_schema() -> None:
    for path in SCHEMAS.glob("*.json"):
        Draft202012Validator.check_schema(json.loads(path.read_text()))


def test_alert_record_matches_its_schema() -> None:
    alert = Alert(
        alert_id("u1", "warning", 1.0),
        "u1",
        "warning",
        0.3,
        30.0,
        86400.0,
        "2011-01-01T00:00:00.000Z",
        ["HOLDER"],
        "1.0",
        "2011-01-02T00:00:00.000Z",
    )
    Draft202012Validator(json.loads((SCHEMAS / "alert.v2.json").read_text())).validate(
        json.loads(alert.to_json())
    )
