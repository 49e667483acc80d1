"""Control-group decisions go to their own topic and CloudEvents type, never to the actions topic."""

from __future__ import annotations

import asyncio
from typing import Any

from stream_app.policy.records import Action, ActionKind, Reason
from stream_app.service.ports import SourcePosition
from stream_app.worker.outputs import OutputTopics


class RecordingSink:
    """An `OutputSink` that keeps what it is given and acknowledges at once."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes | None, dict[str, bytes]]] = []

    async def send(self, topic: str, key: bytes | None, value: bytes | None, **kw: Any) -> Any:
        self.sent.append((topic, value, dict(kw["headers"])))
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


def action(user: str, control: bool) -> Action:
    return Action(
        action_id=("c" if control else "a") * 32, user_id=user, kind=ActionKind.PUSH,
        payload={"template_id": "t", "params": {}}, reason=Reason.DECAY_WARNING,
        alert_id="0" * 32, control=control, tier="new", emitted_at="2026-01-01T00:00:00.000Z",
    )  # fmt: skip


def test_a_control_record_goes_to_the_control_topic_with_its_own_type() -> None:
    sink = RecordingSink()
    topics = OutputTopics(sink, "dlq", "alerts", "actions", "ticks", "actions.control")
    source = SourcePosition("ticks", 0, 1)

    async def publish() -> None:
        await topics.action(action("u1", control=False), source)
        await topics.action(action("u2", control=True), source)

    asyncio.run(publish())
    by_topic = {topic: (value, headers) for topic, value, headers in sink.sent}
    assert sorted(by_topic) == ["actions", "actions.control"]
    actions_value, actions_headers = by_topic["actions"]
    control_value, control_headers = by_topic["actions.control"]
    assert actions_value is not None and b'"control":false' in actions_value
    assert control_value is not None and b'"control":true' in control_value
    assert actions_headers["ce_type"] == b"dev.decay-stream.action.v1"
    assert control_headers["ce_type"] == b"dev.decay-stream.action.control.v1"
    assert control_headers["ce_dataschema"] == actions_headers["ce_dataschema"]  # one schema
