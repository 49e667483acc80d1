"""`decay-stream tail`: pretty-print the messages of a topic."""

from __future__ import annotations

import argparse
import json

from stream_app.commands.broker import embedded_broker
from stream_app.commands.errors import UsageError
from stream_app.events.dead_letter import parse_dead_letter_headers
from stream_app.kafka.clients import new_admin, new_consumer
from stream_app.kafka.connection import kafka_python_config
from stream_app.settings import Settings
from stream_app.topology import topic_alias


def run_tail(settings: Settings, args: argparse.Namespace) -> int:
    """Print each message of the topic until the timeout, the message limit or Ctrl-C."""
    topic = topic_alias(settings, args.topic)
    with embedded_broker(settings) as bootstrap:
        if not topic_exists(bootstrap, topic, kafka_python_config(settings)):
            raise UsageError(f"topic {topic} does not exist (yet): nothing to tail")
        consumer = new_consumer(
            bootstrap,
            topic,
            client_config=kafka_python_config(settings),
            auto_offset_reset="earliest" if args.from_beginning else "latest",
            enable_auto_commit=False,
            consumer_timeout_ms=int(args.timeout * 1000) if args.timeout else float("inf"),
        )
        shown = 0
        try:
            for message in consumer:
                print(format_message(message.key, message.value, list(message.headers or [])))
                shown += 1
                if args.max_messages and shown >= args.max_messages:
                    break
        except KeyboardInterrupt:
            pass
        finally:
            consumer.close()
    return 0


def topic_exists(bootstrap: str, topic: str, client_config: dict[str, object]) -> bool:
    """True when the cluster has `topic`."""
    admin = new_admin(bootstrap, client_config)
    try:
        return topic in admin.list_topics()
    finally:
        admin.close()


def format_message(key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes]]) -> str:
    """One message for humans: JSON pretty-printed, dead-letter headers shown, bytes abridged."""
    dead_letter = parse_dead_letter_headers(headers)
    try:
        body = json.dumps(json.loads(value or b"null"), indent=2, ensure_ascii=False)
    except (UnicodeDecodeError, json.JSONDecodeError):
        body = repr((value or b"")[:200]) + (
            f" … ({len(value)} bytes)" if value and len(value) > 200 else ""
        )
    head = f"key={(key or b'').decode('utf-8', 'replace')[:64]}"
    if dead_letter:
        head += " " + " ".join(f"{k.removeprefix('dlq.')}={v}" for k, v in dead_letter.items())
    return f"{head}\n{body}"
