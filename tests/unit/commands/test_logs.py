"""DECAY_LOG_FORMAT=json: one JSON object per line, with the message's position and the model
version as fields, through the same dictConfig the worker hands to Faust."""

from __future__ import annotations

import json
import logging
import logging.config
from collections.abc import Iterator

import pytest

from stream_app.commands.logs import logging_config
from stream_app.worker import log_fields
from stream_app.worker.log_fields import position_fields, set_model_version


@pytest.fixture
def json_logs() -> Iterator[None]:
    """JSON logs configured in the test's body, on the stderr that capsys captures there;
    the root logger as it was afterwards."""
    root = logging.getLogger()
    level, handlers = root.level, root.handlers[:]
    yield
    log_fields.CURRENT.clear()
    root.handlers[:] = handlers
    root.setLevel(level)


def lines(err: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in err.splitlines() if line.strip()]


def test_json_lines_carry_position_and_model_version(
    json_logs: None, capsys: pytest.CaptureFixture[str]
) -> None:
    logging.config.dictConfig(logging_config("INFO", "json"))
    set_model_version("2.0+abc")
    log = logging.getLogger("stream_app.worker.pipeline")
    log.warning("event failed at %s[%d]@%d", "decay.events", 3, 41,
                extra=position_fields("decay.events", 3, 41))  # fmt: skip
    log.info("schedule rebuilt")

    first, second = lines(capsys.readouterr().err)
    assert first["message"] == "event failed at decay.events[3]@41"
    assert (first["topic"], first["partition"], first["offset"]) == ("decay.events", 3, 41)
    assert first["level"] == "WARNING" and first["logger"] == "stream_app.worker.pipeline"
    assert first["model_version"] == second["model_version"] == "2.0+abc"
    assert str(first["timestamp"]).endswith("+00:00") and "topic" not in second


def test_json_lines_keep_exceptions_in_one_line(
    json_logs: None, capsys: pytest.CaptureFixture[str]
) -> None:
    logging.config.dictConfig(logging_config("INFO", "json"))
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("stream_app").exception("tick failed")
    (line,) = lines(capsys.readouterr().err)
    assert "ValueError: boom" in str(line["exc_info"])


def test_text_is_the_default(json_logs: None, capsys: pytest.CaptureFixture[str]) -> None:
    logging.config.dictConfig(logging_config("INFO"))
    logging.getLogger("stream_app").info("hello")
    assert capsys.readouterr().err.strip().endswith("INFO stream_app: hello")
