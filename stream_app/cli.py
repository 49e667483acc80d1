"""`decay-stream` commands: worker, replay, tail, kafka-local, demo, score, policy simulate."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

from stream_app.commands.logs import configure_logging
from stream_app.kafka.clients import KafkaConnectError
from stream_app.settings import Settings

log = logging.getLogger("stream_app")

Command = Callable[[Settings, argparse.Namespace], int]


def cmd_worker(settings: Settings, args: argparse.Namespace) -> int:
    """Run the stream worker until stopped."""
    from stream_app.commands.worker import run_worker

    return run_worker(settings, args)


def cmd_replay(settings: Settings, args: argparse.Namespace) -> int:
    """Stream a dataset into the events topic."""
    from stream_app.commands.replay import run_replay

    return run_replay(settings, args)


def cmd_tail(settings: Settings, args: argparse.Namespace) -> int:
    """Pretty-print the messages of a topic."""
    from stream_app.commands.tail import run_tail

    return run_tail(settings, args)


def cmd_kafka_local(settings: Settings, args: argparse.Namespace) -> int:
    """Run a local broker in the foreground until Ctrl-C."""
    from stream_app.commands.broker import run_kafka_local

    return run_kafka_local(settings, args)


def cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    """The main job on the embedded default: broker, worker, a real data slice, output shown."""
    from stream_app.commands.demo import run_demo

    return run_demo(settings, args)


def cmd_score(settings: Settings, args: argparse.Namespace) -> int:
    """Offline scoring of an event log with the exported model (see `score --help`)."""
    from stream_app.commands.score import main as score_main

    return int(score_main(args.score_args))


def cmd_policy(settings: Settings, args: argparse.Namespace) -> int:
    """`policy simulate ...`: run the policy offline over a real dataset."""
    rest = list(args.policy_args)
    if not rest or rest[0] != "simulate":
        print(
            "usage: decay-stream policy simulate [--policy PATH] [--data NAME] [--days N]",
            file=sys.stderr,
        )
        return 2
    from stream_app.commands.simulate import main as simulate_main

    return int(simulate_main(rest[1:]))


def cmd_schemas(settings: Settings, args: argparse.Namespace) -> int:
    """`schemas register`: the message schemas on a schema registry."""
    from stream_app.commands.schemas import run_schemas

    return run_schemas(settings, args)


COMMANDS: dict[str, Command] = {
    "schemas": cmd_schemas,
    "policy": cmd_policy,
    "worker": cmd_worker,
    "replay": cmd_replay,
    "tail": cmd_tail,
    "kafka-local": cmd_kafka_local,
    "demo": cmd_demo,
    "score": cmd_score,
}


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(prog="decay-stream", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("worker", help="run the stream worker (starts a local broker if none is set)")

    replay = sub.add_parser("replay", help="stream a real dataset into the events topic")
    replay.add_argument(
        "source", help="taobao-slice | taobao-814 | tmall-709 | online-retail | CSV path"
    )
    replay.add_argument("--limit", type=int, default=None, help="stop after N events")
    replay.add_argument(
        "--speed", type=float, default=None, help="real time × factor (default: max)"
    )
    replay.add_argument("--topic", default=None, help="target topic (default: the events topic)")
    replay.add_argument("--quiet", action="store_true", help="no progress bar")

    tail = sub.add_parser(
        "tail", help="pretty-print a topic (alerts, actions, dlq, events or a name)"
    )
    tail.add_argument("topic")
    tail.add_argument("--from-beginning", action="store_true")
    tail.add_argument("--max-messages", type=int, default=0)
    tail.add_argument("--timeout", type=float, default=0.0, help="stop after S idle seconds")

    local = sub.add_parser(
        "kafka-local", help="run a local Apache Kafka broker (KRaft) in the foreground"
    )
    local.add_argument("--port", type=int, default=9092)
    local.add_argument("--data-dir", default="var/kafka-local")

    demo = sub.add_parser("demo", help="broker + worker + replay of a real slice, then show output")
    demo.add_argument("--source", default="online-retail", help="dataset name or CSV path")
    demo.add_argument("--limit", type=int, default=3_000, help="events to replay (from the start)")
    demo.add_argument("--days-per-second", type=float, default=2.0, help="simulated clock speed")
    demo.add_argument("--seconds", type=float, default=20.0, help="how long to watch alerts")

    policy = sub.add_parser(
        "policy", help="activation policy tools: `policy simulate --help`", add_help=False
    )
    policy.add_argument("policy_args", nargs=argparse.REMAINDER)

    schemas = sub.add_parser(
        "schemas", help="register the event, alert and action schemas with a schema registry"
    )
    schemas.add_argument("action", choices=["register"])
    schemas.add_argument(
        "--registry", default=None, help="registry URL (default: DECAY_SCHEMA_REGISTRY_URL)"
    )

    score = sub.add_parser(
        "score", help="score an event log offline with the ONNX model", add_help=False
    )
    score.add_argument("score_args", nargs=argparse.REMAINDER)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `decay-stream` console script."""
    args = build_parser().parse_args(argv)
    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    try:
        return COMMANDS[args.command](settings, args)
    except KafkaConnectError as exc:
        log.error("cannot connect to Kafka: %s", exc)  # never holds the password
        return 2
