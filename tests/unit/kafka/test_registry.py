"""`schemas register` over HTTP against a local stand-in of the Confluent-compatible REST API.

Not an integration test: no registry that runs here was found (see docs/contracts.md,
Compatibility). The stand-in answers as the Confluent API documents and records
every request, so the client's paths, bodies, headers and error handling are checked.
"""

from __future__ import annotations

import argparse
import base64
import logging
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import SecretStr

from stream_app.cli import refuse
from stream_app.commands.errors import UsageError
from stream_app.commands.schemas import event_schema_ids, run_schemas
from stream_app.contracts import contracts
from stream_app.settings import Settings
from tests.registry_stand_in import StandInRegistry, serving

PASSWORD = "registry-secret-7f3a"


@pytest.fixture
def registry() -> Iterator[tuple[StandInRegistry, str]]:
    state = StandInRegistry()
    with serving(state) as url:
        yield state, url


def register(url: str, login: bool = True) -> int:
    """`decay-stream schemas register --registry URL` with basic-auth credentials (the command
    without the CLI's logging set-up, which would outlive the test; its refusal as the CLI's)."""
    settings = Settings(
        schema_registry_username="svc", schema_registry_password=SecretStr(PASSWORD)
    )
    try:
        return run_schemas(settings if login else Settings(), argparse.Namespace(registry=url))
    except UsageError as exc:
        return refuse(str(exc))


def test_register_sets_each_level_then_registers_each_schema(
    registry: tuple[StandInRegistry, str], capsys: Any
) -> None:
    state, url = registry
    assert register(url) == 0
    expected = contracts(Settings())
    assert state.levels == {c.subject: c.compatibility for c in expected}
    assert {s: v[0] for s, v in state.versions.items()} == {
        c.subject: c.schema_text() for c in expected
    }
    for method, _, headers, body in state.requests:
        assert headers["Content-Type"] == "application/vnd.schemaregistry.v1+json"
        token = base64.b64encode(f"svc:{PASSWORD}".encode()).decode()
        assert headers["Authorization"] == f"Basic {token}"
        if method == "POST":
            assert body["schemaType"] == "JSON"
    # Each subject's level is set before its first version (the order the API needs).
    assert [m for m, *_ in state.requests] == ["PUT", "POST"] * len(expected)
    out = capsys.readouterr().out
    assert out.count(" id 100, ") == len(expected) and PASSWORD not in out

    # Registering again is idempotent: the same ids, no new version.
    assert register(url) == 0
    assert all(len(v) == 1 for v in state.versions.values())


def test_a_refused_schema_is_one_line_exit_2_and_no_secret(
    registry: tuple[StandInRegistry, str], capsys: Any
) -> None:
    state, url = registry
    state.refuse = contracts(Settings())[1].subject
    assert register(url) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "HTTP 409" in lines[0] and "incompatible" in lines[0]
    assert PASSWORD not in captured.err + captured.out


def test_an_unreachable_registry_is_one_line_exit_2(capsys: Any) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    assert register(url) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: schema registry at {url}")


def closed_port() -> int:
    """A local port nothing listens on (bound once, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def test_a_login_in_the_url_is_used_and_never_shown(
    registry: tuple[StandInRegistry, str], capsys: Any
) -> None:
    state, url = registry
    with_login = url.replace("http://", f"http://svc:{PASSWORD}@")
    assert register(with_login, login=False) == 0
    token = base64.b64encode(f"svc:{PASSWORD}".encode()).decode()
    assert all(headers["Authorization"] == f"Basic {token}" for _, _, headers, _ in state.requests)
    state.refuse = contracts(Settings())[0].subject
    assert register(with_login, login=False) == 2
    captured = capsys.readouterr()
    assert PASSWORD not in captured.out + captured.err
    assert captured.err.startswith(f"error: schema registry at {url}")


@pytest.mark.parametrize("url", ["notaurl", "ftp://svc:registry-secret-7f3a@host/"])
def test_a_url_that_is_not_http_is_one_line(url: str, capsys: Any) -> None:
    assert register(url) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: schema registry URL")
    assert PASSWORD not in err


def test_the_worker_learns_the_events_subjects_schema_ids(
    registry: tuple[StandInRegistry, str],
) -> None:
    """The ids a framed event may carry: none known before `schemas register` (any id)."""
    state, url = registry
    assert event_schema_ids(Settings()) is None  # no registry: the wire format is refused
    assert event_schema_ids(Settings(schema_registry_url=url)) == frozenset()
    assert register(url) == 0
    assert event_schema_ids(Settings(schema_registry_url=url)) == {100}
    assert ("GET", "/subjects/decay.events-value/versions/1") in [
        (method, path) for method, path, *_ in state.requests
    ]


def test_an_unreachable_registry_is_one_warning_and_any_id(caplog: Any) -> None:
    """The worker does not depend on the registry to start: it takes any id meanwhile."""
    url = f"http://svc:{PASSWORD}@127.0.0.1:{closed_port()}"
    with caplog.at_level(logging.WARNING):
        assert event_schema_ids(Settings(schema_registry_url=url)) == frozenset()
    (line,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert line.startswith("schema registry at http://127.0.0.1:") and "any schema id" in line
    assert PASSWORD not in caplog.text
