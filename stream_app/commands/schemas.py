"""`decay-stream schemas register`: the three message schemas on a schema registry."""

from __future__ import annotations

import argparse
import logging
import urllib.parse

from stream_app.commands.errors import UsageError
from stream_app.contracts import contracts
from stream_app.kafka.redaction import redact_url, register_secret
from stream_app.kafka.registry import RegistryError, SchemaRegistry
from stream_app.settings import Settings

log = logging.getLogger(__name__)


def registry_from(url: str, settings: Settings) -> SchemaRegistry:
    """A client for `url`; a login in the URL (`https://user:password@host`) is used as the
    basic-auth login unless DECAY_SCHEMA_REGISTRY_USERNAME/PASSWORD are set, never shown."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"schema registry URL {redact_url(url)!r}: give http(s)://host[:port]")
    register_secret(parts.password)
    username = settings.schema_registry_username or parts.username
    secret = settings.schema_registry_password
    password = secret.get_secret_value() if secret is not None else parts.password
    host = parts.hostname + (f":{parts.port}" if parts.port else "")
    bare = urllib.parse.urlunsplit((parts.scheme, host, parts.path, "", ""))
    return SchemaRegistry(
        bare,
        urllib.parse.unquote(username) if username else None,
        urllib.parse.unquote(password) if password else None,
    )


def event_schema_ids(settings: Settings) -> frozenset[int] | None:
    """The schema ids producers may frame events with: those of the events subject's versions
    (empty, any id, while it has none or the registry does not answer: a WARNING says so, and
    the worker starts without it); None without a registry (the wire format is refused)."""
    if not settings.schema_registry_url:
        return None
    registry = registry_from(settings.schema_registry_url, settings)
    (events,) = [c for c in contracts(settings) if c.topic == settings.events_topic]
    try:
        return registry.schema_ids(events.subject)
    except (RegistryError, OSError, ValueError) as exc:
        log.warning(
            "schema registry at %s: %s; events in its wire format are taken with any schema id",
            registry.url,
            exc,
        )
        return frozenset()


def run_schemas(settings: Settings, args: argparse.Namespace) -> int:
    """Set each subject's compatibility level, then register its current schema."""
    url = args.registry or settings.schema_registry_url
    if not url:
        raise UsageError("give --registry URL or set DECAY_SCHEMA_REGISTRY_URL")
    registry = registry_from(url, settings)
    try:
        for contract in contracts(settings):
            level = registry.set_compatibility(contract.subject, contract.compatibility)
            schema_id = registry.register(contract.subject, contract.schema_text())
            print(f"{contract.subject}: {contract.schema_file} id {schema_id}, {level}")
    except (RegistryError, OSError, ValueError) as exc:
        raise UsageError(f"schema registry at {registry.url}: {exc}") from None
    return 0
