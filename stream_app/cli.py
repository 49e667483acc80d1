"""`decay-stream` commands: worker, replay, tail, kafka-local, demo, score."""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from stream_app.events.dead_letter import parse_dead_letter_headers
from stream_app.kafka_io import KafkaConnectError, ensure_topic, new_consumer
from stream_app.kafka_local import LocalKafka, _metadata_ok
from stream_app.settings import Settings

log = logging.getLogger("stream_app")


def configure_logging(level: str) -> None:
    """Plain log lines; client libraries only at WARNING."""
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("kafka", "aiokafka"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


@contextmanager
def embedded_broker(settings: Settings) -> Iterator[str]:
    """Bootstrap servers: the configured cluster, or a local broker (reused or started)."""
    if settings.bootstrap_servers:
        yield settings.bootstrap_servers
        return
    if settings.security_protocol != "PLAINTEXT":
        raise KafkaConnectError(
            f"DECAY_SECURITY_PROTOCOL={settings.security_protocol} needs DECAY_BOOTSTRAP_SERVERS:"
            " the embedded local broker speaks PLAINTEXT only"
        )
    bootstrap = f"127.0.0.1:{settings.local_kafka_port}"
    if _metadata_ok(bootstrap):
        log.info("Using the local Kafka broker already running at %s", bootstrap)
        yield bootstrap
        return
    log.info("DECAY_BOOTSTRAP_SERVERS unset: starting a local Kafka broker at %s", bootstrap)
    broker = LocalKafka(data_dir=settings.local_kafka_dir.resolve(), port=settings.local_kafka_port)
    broker.start()
    try:
        yield broker.bootstrap_servers
    finally:
        broker.stop()


def cmd_worker(settings: Settings, args: argparse.Namespace) -> int:
    """Run the stream worker until stopped."""
    import faust

    from stream_app.app import create_app
    from stream_app.policy import PolicyError

    with embedded_broker(settings) as bootstrap:
        try:
            engine = create_app(settings.model_copy(update={"bootstrap_servers": bootstrap}))
        except PolicyError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        for topic, config in engine.topic_specs().items():
            ensure_topic(
                bootstrap, topic, settings.partitions, config,
                settings.kafka_python_config(), settings.replication_factor,
            )  # fmt: skip
        worker = faust.Worker(engine.app, loglevel=settings.log_level.lower(), quiet=True)
        # The ~150k objects of the loaded libraries, the app and the model live as long as the
        # process; frozen, the cyclic garbage collector stops walking them on every full
        # collection. The per-user objects (schedule entries, states in flight) churn batch
        # after batch: with the default thresholds the collector ran ~150 full collections and
        # took ~30 % of a busy worker's time at 120k users; collecting young objects every 50k
        # allocations instead of 700 leaves it ~1 % (bench/NOTES.md, attempts 5 and 9).
        gc.freeze()
        gc.set_threshold(50_000, 20, 20)
        worker.execute_from_commandline()
    return 0


def cmd_replay(settings: Settings, args: argparse.Namespace) -> int:
    """Stream a dataset into the events topic."""
    from stream_app.datasets import load_events
    from stream_app.replay import replay

    with embedded_broker(settings) as bootstrap:
        sent = replay(
            load_events(args.source),
            bootstrap=bootstrap,
            topic=args.topic or settings.events_topic,
            partitions=settings.partitions,
            limit=args.limit,
            speed=args.speed,
            progress=not args.quiet,
            client_config=settings.kafka_python_config(),
        )
    print(f"replayed {sent} events from {args.source}", file=sys.stderr)
    return 0


def cmd_tail(settings: Settings, args: argparse.Namespace) -> int:
    """Pretty-print the messages of an output topic."""
    topic = {
        "alerts": settings.alerts_topic,
        "actions": settings.actions_topic,
        "dlq": settings.dead_letter_topic,
        "events": settings.events_topic,
    }.get(args.topic, args.topic)
    with embedded_broker(settings) as bootstrap:
        consumer = new_consumer(
            bootstrap,
            topic,
            client_config=settings.kafka_python_config(),
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


def cmd_kafka_local(settings: Settings, args: argparse.Namespace) -> int:
    """Run a local broker in the foreground until Ctrl-C."""
    broker = LocalKafka(data_dir=Path(args.data_dir).resolve(), port=args.port)
    broker.start()
    print(
        f"Kafka running at {broker.bootstrap_servers} (data in {broker.data_dir}); Ctrl-C stops it"
    )
    try:
        while broker.process is not None and broker.process.poll() is None:
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        broker.stop()
    return 0


def cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    """The main job on the embedded default: broker, worker, a real data slice, output shown."""
    from stream_app.demo import run_demo

    with embedded_broker(settings) as bootstrap:
        return run_demo(settings.model_copy(update={"bootstrap_servers": bootstrap}), args)


def cmd_score(settings: Settings, args: argparse.Namespace) -> int:
    """Offline scoring of an event log with the exported model (see `score --help`)."""
    from stream_app.model.scoring import main as score_main

    return int(score_main(args.score_args))


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

    score = sub.add_parser(
        "score", help="score an event log offline with the ONNX model", add_help=False
    )
    score.add_argument("score_args", nargs=argparse.REMAINDER)
    return parser


def cmd_policy(settings: Settings, args: argparse.Namespace) -> int:
    """`policy simulate ...`: run the policy offline over a real dataset."""
    rest = list(args.policy_args)
    if not rest or rest[0] != "simulate":
        print(
            "usage: decay-stream policy simulate [--policy PATH] [--data NAME] [--days N]",
            file=sys.stderr,
        )
        return 2
    from stream_app.policy.simulate import main as simulate_main

    return int(simulate_main(rest[1:]))


COMMANDS = {
    "policy": cmd_policy,
    "worker": cmd_worker,
    "replay": cmd_replay,
    "tail": cmd_tail,
    "kafka-local": cmd_kafka_local,
    "demo": cmd_demo,
    "score": cmd_score,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `decay-stream` console script."""
    args = build_parser().parse_args(argv)
    settings = Settings()
    configure_logging(settings.log_level)
    try:
        return COMMANDS[args.command](settings, args)
    except KafkaConnectError as exc:
        log.error("cannot connect to Kafka: %s", exc)  # never holds the password
        return 2


def spawn_worker(
    settings: Settings, env: dict[str, str] | None = None, log_path: Path | None = None
) -> subprocess.Popen[bytes]:
    """Start `decay-stream worker` as a child process with `settings` in its environment."""
    child_env = {**os.environ, **settings_env(settings), **(env or {})}
    output = log_path.open("ab") if log_path is not None else None
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "stream_app", "worker"],
            env=child_env,
            start_new_session=True,
            stdout=output,
            stderr=subprocess.STDOUT if output is not None else None,
        )
    finally:
        if output is not None:
            output.close()


def settings_env(settings: Settings) -> dict[str, str]:
    """Settings as DECAY_* environment variables (secrets included: for child processes only)."""
    env = {}
    for name, value in settings.model_dump().items():
        if value is None:
            if Settings.model_fields[name].default is not None:
                env[f"DECAY_{name.upper()}"] = ""  # e.g. no policy: empty, not the default
            continue
        if hasattr(value, "get_secret_value"):
            value = value.get_secret_value()
        env[f"DECAY_{name.upper()}"] = str(value)
    return env
