"""docs/asyncapi.json: generated from the schemas and the topology, valid AsyncAPI 3.0."""

from __future__ import annotations

import copy
import json
import lzma
from pathlib import Path
from typing import Any

import jsonschema

from stream_app.asyncapi import asyncapi
from stream_app.contracts import contracts
from stream_app.settings import Settings
from stream_app.topology import changelog_topic, topic_specs

REPO = Path(__file__).resolve().parents[2]
DOCUMENT = REPO / "docs" / "asyncapi.json"
#: The official AsyncAPI 3.0.0 JSON Schema (npm @asyncapi/specs 6.11.1,
#: schemas/3.0.0-without-$id.json, Apache-2.0), xz-compressed.
SPEC = Path(__file__).resolve().parents[1] / "data" / "asyncapi" / "asyncapi-3.0.0.schema.json.xz"


def spec_validator() -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator(json.loads(lzma.open(SPEC).read()))


def defaults() -> Settings:
    return Settings.model_construct()


def test_the_committed_document_is_the_generated_one() -> None:
    assert json.loads(DOCUMENT.read_text()) == asyncapi(defaults()), (
        "run `make asyncapi` (python -m stream_app.asyncapi > docs/asyncapi.json)"
    )


def test_the_document_is_valid_asyncapi_3() -> None:
    errors = [e.message for e in spec_validator().iter_errors(asyncapi(defaults()))]
    assert errors == []


def test_the_validation_can_fail() -> None:
    broken: dict[str, Any] = copy.deepcopy(asyncapi(defaults()))
    broken["operations"]["sendAlerts"]["action"] = "publish"  # AsyncAPI 2's word
    del broken["channels"]["events"]["address"]
    broken["channels"]["events"]["servers"] = "all"
    assert len(list(spec_validator().iter_errors(broken))) >= 2


def test_every_topic_has_a_channel_and_every_payload_is_its_schema() -> None:
    settings = Settings(app_id="shop", events_topic="shop.in", partitions=12)
    doc = asyncapi(settings)
    addresses = {c["address"] for c in doc["channels"].values()}
    assert addresses == set(topic_specs(settings)) | {changelog_topic("shop")}
    for channel in doc["channels"].values():
        assert channel["bindings"]["kafka"]["partitions"] == 12
    by_topic = {c.topic: c for c in contracts(settings)}
    for channel in doc["channels"].values():
        contract = by_topic.get(channel["address"])
        if contract is None:
            continue
        (message,) = channel["messages"].values()
        schema = message["payload"]["schema"]
        assert schema == json.loads(contract.schema_text())
        jsonschema.Draft202012Validator.check_schema(schema)
    for name, operation in doc["operations"].items():
        channel = operation["channel"]["$ref"].removeprefix("#/channels/")
        assert channel in doc["channels"], name
        for ref in operation["messages"]:
            _, _, owner, _, message = ref["$ref"].split("/")
            assert owner == channel and message in doc["channels"][channel]["messages"], name
    assert doc["operations"]["receiveEvents"]["action"] == "receive"
    assert doc["operations"]["sendAlerts"]["action"] == "send"
