"""A small consumer of the decay-stream alerts topic: one line per alert, each alert once.

Delivery is at least once, so the same alert can arrive twice; its `alert_id` is the same
every time (same user, level and silence episode), which is all a consumer needs to act once.
Needs only kafka-python (`pip install kafka-python`):

    python examples/alerts_consumer.py --bootstrap localhost:9092 --topic decay.alerts \
        --group my-crm-sync

Each line: alert_id, user, level, P(return within the horizon) and how long the user was silent.
A record this consumer cannot read (not JSON, an unknown schema version) is skipped with a
warning, never fatal. Stop with Ctrl-C, or give --max-messages / --idle-seconds.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import OrderedDict
from typing import Any

from kafka import KafkaConsumer

#: The schema versions this consumer was written against (alert.v1.json, alert.v2.json).
KNOWN_VERSIONS = {1, 2}
#: Alert ids remembered for de-duplication (a bounded window: a redelivery comes soon).
SEEN_LIMIT = 100_000


def describe(alert: dict[str, Any]) -> str:
    """One line for an alert."""
    days = float(alert["silent_for_s"]) / 86_400
    return (
        f"{alert['alert_id']} user={alert['user_id']} level={alert['level']}"
        f" p_return={float(alert['return_probability']):.3f}"
        f" within={float(alert['horizon_days']):g}d silent={days:.1f}d"
    )


def parse(value: bytes) -> dict[str, Any] | None:
    """The alert, or None for a record this consumer does not understand."""
    try:
        alert = json.loads(value)
    except ValueError:
        return None
    if not isinstance(alert, dict) or alert.get("schema_version", 1) not in KNOWN_VERSIONS:
        return None
    return alert


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", default="localhost:9092")
    parser.add_argument("--topic", default="decay.alerts")
    parser.add_argument("--group", default="decay-alerts-example")
    parser.add_argument("--from-beginning", action="store_true")
    parser.add_argument("--max-messages", type=int, default=0, help="stop after N alerts")
    parser.add_argument("--idle-seconds", type=float, default=0, help="stop when idle this long")
    args = parser.parse_args(argv)
    consumer = KafkaConsumer(
        args.topic,
        bootstrap_servers=args.bootstrap,
        group_id=args.group,
        auto_offset_reset="earliest" if args.from_beginning else "latest",
        enable_auto_commit=True,
        consumer_timeout_ms=int(args.idle_seconds * 1000) if args.idle_seconds else float("inf"),
    )
    seen: OrderedDict[str, None] = OrderedDict()
    shown = 0
    try:
        for record in consumer:
            alert = parse(record.value)
            if alert is None:
                print(f"skipped a record at offset {record.offset}", file=sys.stderr)
                continue
            if alert["alert_id"] in seen:
                continue  # a redelivery: already acted on
            seen[alert["alert_id"]] = None
            if len(seen) > SEEN_LIMIT:
                seen.popitem(last=False)
            print(describe(alert), flush=True)
            shown += 1
            if args.max_messages and shown >= args.max_messages:
                break
    except KeyboardInterrupt:
        pass
    finally:
        consumer.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
