"""event.v1.json against the decoder: every event the decoder accepts validates, and every
refusal of the hostile corpus is either refused by the schema too or one a schema cannot see."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from stream_app.data.sources import load_events
from stream_app.events.decode import DecodeLimits, Rejected, decode_event
from stream_app.events.schema import Event
from tests.conftest import FIXTURES
from tests.hostile_corpus import CorpusMessage, load_corpus

SCHEMA = Path(__file__).resolve().parents[3] / "stream_app" / "schemas" / "event.v1.json"
NOW = 1_700_100_000.0
LIMITS = DecodeLimits(now_seconds=NOW)

#: Refusals a JSON Schema cannot express, and why: it sees one parsed document, not the bytes,
#: the Kafka key or partition, or the worker's clock.
BEYOND_A_SCHEMA = {
    "payload_too_large": "a size limit on the message bytes (DECAY_MAX_EVENT_BYTES)",
    "not_utf8": "the bytes are not text: there is no document to validate",
    "invalid_json": "not one JSON document every parser reads alike (repeated names, NaN, "
    "Infinity, nesting past the parser's depth, trailing bytes, a BOM)",
    "key_mismatch": "the Kafka message key, not the value",
    "wrong_partition": "the Kafka partition, not the value",
    "ts_out_of_range": "beyond a float (1e309, 400 digits) or ahead of the worker's clock",
}
#: Single cases the schema accepts for a reason it otherwise checks.
CASES_BEYOND_A_SCHEMA = {
    "user_id_float": "JSON Schema counts 42.0 as an integer (zero fraction); the decoder refuses"
    " a float id, whose decimal string would not be the key producers send",
}


@pytest.fixture(scope="module")
def validator() -> Draft202012Validator:
    schema = json.loads(SCHEMA.read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def parsed(message: CorpusMessage) -> Any:
    """The value as Python's json module reads it (what a validating consumer would check)."""
    assert message.value is not None
    return json.loads(message.value)


def test_every_event_the_decoder_accepts_validates(validator: Draft202012Validator) -> None:
    accepted = [
        m for m in load_corpus() if not isinstance(decode_event(m.key, m.value, LIMITS), Rejected)
    ]
    assert len(accepted) >= 20
    for message in accepted:
        errors = [e.message for e in validator.iter_errors(parsed(message))]
        assert not errors, (message.case, errors)


def test_real_and_edge_events_validate(validator: Draft202012Validator) -> None:
    events: list[Event] = list(load_events(str(FIXTURES / "online_retail_sample.csv")))
    documents: list[dict[str, Any]] = [e.to_json_dict() for e in events[:500]]
    documents += [
        {"user_id": 17850, "ts": "2011-01-04T10:00:00+00:00", "type": "cart", "item_id": 85123},
        {"user_id": "u", "ts": "2011-01-04 10:00:00.5+0100", "type": "fav", "item_id": "i",
         "category_id": None, "price": None, "event_id": None, "extra": {"any": [1, 2]}},
        {"user_id": "u", "ts": "2011-01-04T10:00:00Z", "type": "cancel", "item_id": "i",
         "price": 0},
    ]  # fmt: skip
    for document in documents:
        value = json.dumps(document).encode()
        assert isinstance(decode_event(str(document["user_id"]).encode(), value, LIMITS), Event)
        errors = [e.message for e in validator.iter_errors(document)]
        assert not errors, (document, errors)


def test_every_refusal_is_refused_by_the_schema_or_beyond_a_schema(
    validator: Draft202012Validator,
) -> None:
    explained: dict[str, set[str]] = {}
    for message in load_corpus():
        decoded = decode_event(message.key, message.value, LIMITS)
        if not isinstance(decoded, Rejected) and not message.wrong_partition:
            continue
        reason = "wrong_partition" if message.wrong_partition else decoded.reason.value
        assert message.reason == reason, message.case
        try:
            refused = not validator.is_valid(parsed(message))
        except (ValueError, TypeError, RecursionError, AssertionError):
            refused = False  # not a document: only a reason beyond a schema can say why
        if refused:
            continue
        if message.case in CASES_BEYOND_A_SCHEMA:
            explained.setdefault(message.case, set()).add(message.case)
            continue
        assert reason in BEYOND_A_SCHEMA, (message.case, reason, "the schema accepts it")
        explained.setdefault(reason, set()).add(message.case)
    # Each explanation is met by the corpus, so the lists above are not dead text.
    assert explained.keys() == BEYOND_A_SCHEMA.keys() | CASES_BEYOND_A_SCHEMA.keys(), explained


def test_a_schema_refusal_is_also_a_decoder_refusal(validator: Draft202012Validator) -> None:
    """The converse on the corpus: what the schema refuses, the decoder refuses too."""
    for message in load_corpus():
        try:
            document = parsed(message)
        except (ValueError, TypeError, RecursionError, AssertionError):
            continue
        if not validator.is_valid(document):
            assert isinstance(decode_event(message.key, message.value, LIMITS), Rejected), (
                message.case
            )
