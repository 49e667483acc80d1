"""The message contracts: one open, current schema per topic, with the compatibility level that
keeps consumers working while fields are added."""

from __future__ import annotations

import json

from jsonschema import Draft202012Validator

from stream_app.cli import main
from stream_app.contracts import contracts
from stream_app.settings import Settings


def test_each_topic_has_one_current_open_schema_and_a_level() -> None:
    settings = Settings(
        events_topic="in",
        alerts_topic="out.alerts",
        actions_topic="out.actions",
        control_actions_topic="out.control",
    )
    by_subject = {c.subject: c for c in contracts(settings)}
    outputs = ("out.alerts-value", "out.actions-value", "out.control-value")
    assert set(by_subject) == {"in-value", *outputs}
    assert (
        by_subject["in-value"].compatibility == "BACKWARD_TRANSITIVE"
    )  # we read: we upgrade first
    for subject in outputs:  # they read: old readers keep working
        assert by_subject[subject].compatibility == "FORWARD_TRANSITIVE"
    for contract in by_subject.values():
        schema = json.loads(contract.schema_text())
        Draft202012Validator.check_schema(schema)
        assert schema["$id"].endswith(contract.schema_file)
        assert '"additionalProperties": false' not in contract.schema_text(), contract.schema_file


def test_an_added_field_keeps_an_output_record_valid() -> None:
    """FORWARD compatibility in practice: a record with a field from a later version validates."""
    alert = {
        "alert_id": "0" * 32, "user_id": "u", "level": "warning", "return_probability": 0.3,
        "horizon_days": 30.0, "silent_for_s": 1.0, "last_event_at": "2011-01-01T00:00:00.000Z",
        "top_categories": [], "model_version": "1", "emitted_at": "2011-01-01T00:00:00.000Z",
        "schema_version": 2, "relative_probability": 0.5, "peak_return_probability": 0.6,
        "skipped_levels": [],
    }  # fmt: skip
    alerts = contracts(Settings())[1]
    validator = Draft202012Validator(json.loads(alerts.schema_text()))
    validator.validate(alert)
    validator.validate({**alert, "added_in_a_later_version": {"any": 1}})


def test_register_without_a_registry_url_is_a_usage_error(capsys: object) -> None:
    assert main(["schemas", "register"]) == 2
