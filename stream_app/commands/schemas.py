"""`decay-stream schemas register`: the three message schemas on a schema registry."""

from __future__ import annotations

import argparse
import sys

from stream_app.contracts import contracts
from stream_app.kafka.registry import RegistryError, SchemaRegistry
from stream_app.settings import Settings


def run_schemas(settings: Settings, args: argparse.Namespace) -> int:
    """Set each subject's compatibility level, then register its current schema."""
    url = args.registry or settings.schema_registry_url
    if not url:
        print("error: give --registry URL or set DECAY_SCHEMA_REGISTRY_URL", file=sys.stderr)
        return 2
    password = settings.schema_registry_password
    registry = SchemaRegistry(
        url,
        settings.schema_registry_username,
        password.get_secret_value() if password is not None else None,
    )
    try:
        for contract in contracts(settings):
            level = registry.set_compatibility(contract.subject, contract.compatibility)
            schema_id = registry.register(contract.subject, contract.schema_text())
            print(f"{contract.subject}: {contract.schema_file} id {schema_id}, {level}")
    except (RegistryError, OSError) as exc:
        print(f"error: schema registry at {url}: {exc}", file=sys.stderr)
        return 2
    return 0
