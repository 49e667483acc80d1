"""The broker connection options the settings name: a TLS context and kafka-python's config."""

from __future__ import annotations

import ssl
from pathlib import Path

from stream_app.settings import ENV_PREFIX, Settings, SettingsError


def ssl_context(settings: Settings) -> ssl.SSLContext | None:
    """TLS context for SSL/SASL_SSL, None for plaintext."""
    if "SSL" not in settings.security_protocol:
        return None
    missing = [
        f"{ENV_PREFIX}{name.upper()}: {path}: no such file"
        for name in ("ssl_cafile", "ssl_certfile", "ssl_keyfile")
        if (path := getattr(settings, name)) is not None and not Path(path).is_file()
    ]
    if missing:
        raise SettingsError(missing)
    context = ssl.create_default_context(
        cafile=str(settings.ssl_cafile) if settings.ssl_cafile else None
    )
    context.check_hostname = settings.ssl_check_hostname
    if settings.ssl_certfile:
        context.load_cert_chain(
            str(settings.ssl_certfile), str(settings.ssl_keyfile or settings.ssl_certfile)
        )
    return context


def kafka_python_config(settings: Settings) -> dict[str, object]:
    """Connection options for kafka-python clients (replay, tail, admin)."""
    config: dict[str, object] = {
        "security_protocol": settings.security_protocol,
        "bootstrap_timeout_ms": int(settings.kafka_connect_timeout_seconds * 1000),
    }
    if settings.security_protocol.startswith("SASL"):
        assert settings.sasl_password is not None
        config |= {
            "sasl_mechanism": settings.sasl_mechanism,
            "sasl_plain_username": settings.sasl_username,
            "sasl_plain_password": settings.sasl_password.get_secret_value(),
        }
    if "SSL" in settings.security_protocol:
        config["ssl_context"] = ssl_context(settings)
    return config
