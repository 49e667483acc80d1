"""`decay-stream` commands: worker, check, replay, tail, kafka-local, demo, score, policy
simulate, schemas register.

Exit codes: 0 done; 1 an unexpected error (with its traceback); 2 a configuration or usage
error, a broker that cannot be reached or refuses the login (one line per problem on stderr,
each starting `error: `); 130 Ctrl-C. No password appears in any line (`stream_app.kafka.redaction`).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

from stream_app import __version__
from stream_app.commands.arguments import (
    OneLineParser,
    add_score_arguments,
    add_simulate_arguments,
)
from stream_app.commands.check import PreflightError, unknown_variables
from stream_app.commands.errors import UsageError
from stream_app.commands.logs import configure_logging
from stream_app.kafka import redaction
from stream_app.kafka.clients import KafkaConnectError
from stream_app.kafka.local_config import KafkaLocalError
from stream_app.policy import PolicyError
from stream_app.settings import Settings, SettingsError, load_settings, prefixed_environment
from stream_app.worker.serving import ModelFileError

log = logging.getLogger("stream_app")

Command = Callable[[Settings, argparse.Namespace], int]
USAGE_ERROR = 2
INTERRUPTED = 130


def cmd_worker(settings: Settings, args: argparse.Namespace) -> int:
    """Run the stream worker until stopped."""
    from stream_app.commands.worker import run_worker

    return run_worker(settings, args)


def cmd_check(settings: Settings, args: argparse.Namespace) -> int:
    """Validate settings, policy, model, TLS files and topic plan offline."""
    from stream_app.commands.check import run_check

    return run_check(settings, args, prefixed_environment())


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
    from stream_app.commands.score import run

    return run(args)


def cmd_schemas(settings: Settings, args: argparse.Namespace) -> int:
    """`schemas register`: the message schemas on a schema registry."""
    from stream_app.commands.schemas import run_schemas

    return run_schemas(settings, args)


def cmd_policy_simulate(settings: Settings, args: argparse.Namespace) -> int:
    """`policy simulate ...`: run the policy offline over a real dataset."""
    from stream_app.commands.simulate import run

    return run(args)


COMMANDS: dict[str, Command] = {
    "worker": cmd_worker,
    "check": cmd_check,
    "replay": cmd_replay,
    "tail": cmd_tail,
    "kafka-local": cmd_kafka_local,
    "demo": cmd_demo,
    "score": cmd_score,
    "policy simulate": cmd_policy_simulate,
    "schemas": cmd_schemas,
}


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface: every subcommand has --help; options go anywhere."""
    parser = OneLineParser(prog="decay-stream", description=__doc__)
    parser.add_argument("--version", action="version", version=f"decay-stream {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sub.add_parser("worker", help="run the stream worker (starts a local broker if none is set)")
    check = sub.add_parser(
        "check", help="validate settings, policy, model, TLS files and topics offline (exit 2)"
    )
    check.add_argument("--quiet", action="store_true", help="print nothing when all is well")

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
        "tail", help="pretty-print a topic (alerts, actions, control, dlq, events or a name)"
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

    policy = sub.add_parser("policy", help="activation policy tools: `policy simulate --help`")
    policy_sub = policy.add_subparsers(dest="policy_command", required=True, metavar="TOOL")
    add_simulate_arguments(
        policy_sub.add_parser("simulate", help="run the policy offline over a replayed dataset")
    )
    add_score_arguments(sub.add_parser("score", help="score an event log offline with the model"))

    schemas = sub.add_parser(
        "schemas", help="register the event, alert and action schemas with a schema registry"
    )
    schemas.add_argument("action", choices=["register"])
    schemas.add_argument(
        "--registry", default=None, help="registry URL (default: DECAY_SCHEMA_REGISTRY_URL)"
    )
    return parser


def command_name(args: argparse.Namespace) -> str:
    """`policy simulate` for a nested command, else the command."""
    tool = getattr(args, "policy_command", None)
    return f"{args.command} {tool}" if tool else str(args.command)


#: Commands that refuse to run on a `DECAY_*` variable no setting reads (others warn).
STRICT_ENVIRONMENT = ("worker", "check")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `decay-stream` console script."""
    redaction.install()
    args = build_parser().parse_args(argv)
    name = command_name(args)
    try:
        settings = load_settings()
        configure_logging(settings.log_level, settings.log_format)
        if name not in STRICT_ENVIRONMENT:
            for line in unknown_variables(prefixed_environment()):
                log.warning("%s", line)
        return COMMANDS[name](settings, args)
    except KeyboardInterrupt:
        return INTERRUPTED
    except BrokenPipeError:
        return quiet_broken_pipe()
    except KafkaConnectError as exc:
        return refuse(f"cannot connect to Kafka: {exc}")
    except SettingsError as exc:
        unknown = unknown_variables(prefixed_environment()) if name in STRICT_ENVIRONMENT else []
        return refuse(*exc.problems, *unknown)
    except PreflightError as exc:
        return refuse(*exc.problems)
    except (UsageError, PolicyError, ModelFileError, FileNotFoundError, KafkaLocalError) as exc:
        return refuse(str(exc))


def refuse(*problems: str) -> int:
    """One `error: ` line per problem on stderr (passwords masked), exit code 2."""
    for problem in problems:
        print(f"error: {redaction.redact(problem)}", file=sys.stderr)
    return USAGE_ERROR


def quiet_broken_pipe() -> int:
    """The reader of stdout went away (`| head`): stop quietly, as `cat` does."""
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())  # the interpreter's final flush must not fail too
    return 0
