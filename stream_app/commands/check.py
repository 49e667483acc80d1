"""`decay-stream check`: everything the worker needs, validated offline, one line per problem.

Settings (and `DECAY_*` variables no setting reads), the policy, the model against the feature
contract, the TLS files and the topic plan. The worker runs the same checks before it connects
to Kafka, so a pod with a bad file fails at once, naming it, instead of after joining the group.
"""

from __future__ import annotations

import argparse
import difflib
import re
import ssl
import sys
from collections.abc import Callable, Mapping
from importlib.util import find_spec
from pathlib import Path

from stream_app.commands.errors import UsageError
from stream_app.kafka.connection import ssl_context
from stream_app.kafka.local_config import NO_CHECKOUT
from stream_app.paths import KAFKA_LOCAL_DIR
from stream_app.policy import PolicyError, load_policy
from stream_app.settings import ENV_PREFIX, Settings
from stream_app.topology import changelog_topic, topic_specs

#: Kafka's rule for topic names (`org.apache.kafka.common.internals.Topic`).
_TOPIC_NAME = re.compile(r"^[a-zA-Z0-9._-]{1,249}$")
#: Variables Kubernetes sets for a Service whose name starts with `decay-` (service links).
_SERVICE_LINK = re.compile(
    r"_(SERVICE_HOST|SERVICE_PORT(_[A-Z0-9_]+)?|PORT_\d+_(TCP|UDP|SCTP)\w*)$"
)
_LINK_ADDRESS = re.compile(r"^(tcp|udp|sctp)://")
#: Knobs of the test suite (e.g. DECAY_TEST_FLOOD_EVENTS), read by tests, not by settings.
_TEST_KNOBS = f"{ENV_PREFIX}TEST_"
_TLS_FILES = ("ssl_cafile", "ssl_certfile", "ssl_keyfile")


class PreflightError(UsageError):
    """The checks found problems; each is one line."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def variable(field: str) -> str:
    """The environment variable of a settings field."""
    return f"{ENV_PREFIX}{field.upper()}"


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """One line per `DECAY_*` variable no setting reads, with the nearest known name."""
    known = [variable(name) for name in Settings.model_fields]
    lines = []
    for name in sorted(environ):
        if not name.startswith(ENV_PREFIX) or name in known or _not_a_setting(name, environ[name]):
            continue
        near = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
        hint = f" (did you mean {near[0]}?)" if near else ""
        lines.append(f"{name}: no such setting{hint}")
    return lines


def _not_a_setting(name: str, value: str) -> bool:
    """A Kubernetes service-link variable or a test-suite knob."""
    if name.startswith(_TEST_KNOBS):
        return True
    return bool(_SERVICE_LINK.search(name)) or (
        name.endswith("_PORT") and bool(_LINK_ADDRESS.match(value))
    )


def broker_problems(settings: Settings) -> list[str]:
    """No broker set and no embedded one to start (an installed package, not a checkout)."""
    if settings.bootstrap_servers is None and not (KAFKA_LOCAL_DIR / "pom.xml").is_file():
        return [NO_CHECKOUT]
    return []


def policy_problems(settings: Settings) -> list[str]:
    """The policy file's problems, each with its key (none when no policy is set)."""
    if settings.policy_path is None:
        return []
    try:
        load_policy(settings.policy_path)
    except PolicyError as exc:
        head, *items = str(exc).split("\n  - ")
        if not items:
            return [f"{variable('policy_path')}: {head}"]
        return [f"{variable('policy_path')}: {head.removesuffix(':')}: {item}" for item in items]
    return []


def model_problems(settings: Settings) -> list[str]:
    """The model file against the feature contract (none when alerts are off)."""
    if not settings.alerts_enabled:
        return []
    from stream_app.model.contract import GRAPH_STEP, ContractError, check_model
    from stream_app.model.runtime import open_session  # ONNX Runtime only when needed
    from stream_app.worker.serving import ALERTS_OFF_HINT

    path = settings.model_path
    if not path.is_file():
        return [f"no model file at {path} {ALERTS_OFF_HINT}"]
    try:
        session = open_session(path, prefer_cuda=False)
        spec = check_model(
            session.get_modelmeta().custom_metadata_map,
            [i.name for i in session.get_inputs()],
            [o.name for o in session.get_outputs()],
        )
        if spec.graph_kind != GRAPH_STEP:
            raise ContractError(f"a {spec.graph_kind!r} graph, not {GRAPH_STEP!r}")
    except Exception as exc:  # onnxruntime's errors and a broken contract alike
        reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        return [f"model {path} cannot serve: {reason} {ALERTS_OFF_HINT}"]
    return []


def tls_problems(settings: Settings) -> list[str]:
    """TLS files named by the settings: present, readable, and loadable as a TLS context."""
    problems = []
    for field in _TLS_FILES:
        path: Path | None = getattr(settings, field)
        if path is not None and not path.is_file():
            problems.append(f"{variable(field)}: {path}: no such file")
        elif path is not None and "SSL" not in settings.security_protocol:
            problems.append(
                f"{variable(field)} is set but DECAY_SECURITY_PROTOCOL="
                f"{settings.security_protocol} does not use TLS"
            )
    if problems or "SSL" not in settings.security_protocol:
        return problems
    try:
        ssl_context(settings)
    except (ssl.SSLError, OSError, ValueError) as exc:
        named = ", ".join(variable(f) for f in _TLS_FILES if getattr(settings, f) is not None)
        problems.append(f"TLS files ({named or 'system CA store'}) cannot be loaded: {exc}")
    return problems


def topic_problems(settings: Settings) -> list[str]:
    """Topic names Kafka accepts, each topic its own, and a partition plan that fits."""
    fields = (
        "events_topic", "dead_letter_topic", "alerts_topic", "actions_topic",
        "control_actions_topic", "ticks_topic",
    )  # fmt: skip
    problems = []
    for field in fields:
        name: str = getattr(settings, field)
        if not _TOPIC_NAME.match(name) or name in {".", ".."}:
            problems.append(
                f"{variable(field)}: {name!r} is not a Kafka topic name"
                " (letters, digits, '.', '_', '-'; at most 249)"
            )
    names = [getattr(settings, field) for field in fields] + [changelog_topic(settings.app_id)]
    if len(set(names)) < len(names):
        problems.append("two topics share a name: " + ", ".join(sorted(names)))
    if not _TOPIC_NAME.match(changelog_topic(settings.app_id)):
        problems.append(f"{variable('app_id')}: not usable in a topic name")
    return problems


#: What a setting needs installed: (field, value prefix, module, the extra that brings it).
OPTIONAL_MODULES = (
    ("store_url", "rocksdb://", "rocksdict", "decay-stream[rocksdb]"),
    ("log_format", "json", "pythonjsonlogger", "decay-stream[json-logs]"),
)


def module_problems(settings: Settings) -> list[str]:
    """A setting whose optional dependency is not installed."""
    problems = []
    for field, prefix, module, extra in OPTIONAL_MODULES:
        value = str(getattr(settings, field))
        if value.startswith(prefix) and find_spec(module) is None:
            problems.append(f"{variable(field)}={value} needs {module}: pip install '{extra}'")
    return problems


CHECKS: tuple[tuple[str, Callable[[Settings], list[str]]], ...] = (
    ("broker", broker_problems),
    ("modules", module_problems),
    ("policy", policy_problems),
    ("model", model_problems),
    ("tls", tls_problems),
    ("topics", topic_problems),
)


def preflight(settings: Settings, environ: Mapping[str, str]) -> list[str]:
    """Every problem found offline, one line each (empty: the worker may connect)."""
    problems = unknown_variables(environ)
    for _, check in CHECKS:
        problems.extend(check(settings))
    return problems


def summary(settings: Settings) -> list[str]:
    """What was checked, for `check` when everything passed."""
    policy = settings.policy_path or "none (alerts only)"
    model = settings.model_path if settings.alerts_enabled else "none (DECAY_ALERTS_ENABLED=false)"
    topics = len(topic_specs(settings)) + 1
    return [
        f"settings: ok (bootstrap {settings.bootstrap_servers or 'embedded local broker'},"
        f" {settings.security_protocol})",
        f"policy: ok ({policy})",
        f"model: ok ({model})",
        f"tls: ok ({'in use' if 'SSL' in settings.security_protocol else 'not in use'})",
        f"topics: ok ({topics} topics x {settings.partitions} partitions,"
        f" replication {settings.replication_factor})",
    ]


def run_check(settings: Settings, args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    """Print what passed, or raise PreflightError with one line per problem."""
    problems = preflight(settings, environ)
    if problems:
        raise PreflightError(problems)
    if not args.quiet:
        for line in summary(settings):
            print(line, file=sys.stdout)
    return 0
