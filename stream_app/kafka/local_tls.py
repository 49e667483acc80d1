"""SASL over TLS for the local broker: a throwaway CA, a broker keystore and a SASL_SSL listener.

For tests and development only. The CA and the broker's key are made at run time with the JDK's
`keytool` (Java 17 already runs the broker); nothing is committed and nothing outlives the data
directory. The SCRAM users are created when the broker's storage is formatted (KRaft), so the
inter-broker and controller listeners stay PLAINTEXT on 127.0.0.1.
"""

from __future__ import annotations

import ipaddress
import secrets
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from stream_app.kafka.local import SCRAM_MECHANISMS, LocalKafka
from stream_app.kafka.local_config import KafkaLocalError

SASL_SSL_LISTENER = "SASL_SSL"
SCRAM_LOGIN_MODULE = "org.apache.kafka.common.security.scram.ScramLoginModule required;"


@dataclass(frozen=True)
class LocalTls:
    """A CA certificate (PEM) for clients and the broker's PKCS12 keystore signed by it."""

    ca_file: Path
    keystore_file: Path
    keystore_password: str = field(repr=False)


def keytool() -> str:
    """The JDK's keytool (on the PATH, or beside `java`)."""
    found = shutil.which("keytool")
    java = shutil.which("java")
    if found is None and java is not None:
        beside = Path(java).resolve().parent / "keytool"
        found = str(beside) if beside.exists() else None
    if found is None:
        raise KafkaLocalError("keytool (from Java 17) is needed to make the local TLS material")
    return found


def _keytool(*args: str) -> None:
    result = subprocess.run(  # noqa: S603 - fixed tool, arguments built here
        [keytool(), *args], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise KafkaLocalError(f"keytool {args[0]} failed:\n{result.stdout}{result.stderr}")


def generate_tls(
    directory: Path,
    hosts: Sequence[str] = ("127.0.0.1", "localhost"),
    valid_days: int = 7,
) -> LocalTls:
    """A new CA and a broker certificate for `hosts` (IP addresses or DNS names) in `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    password = secrets.token_hex(16)
    ca_store, keystore = directory / "ca.p12", directory / "broker.p12"
    ca_file, request, signed = (
        directory / "ca.pem",
        directory / "broker.csr",
        directory / "broker.pem",
    )
    for path in (ca_store, keystore):
        path.unlink(missing_ok=True)
    store = ["-storetype", "PKCS12", "-storepass", password]
    key = ["-keyalg", "EC", "-groupname", "secp256r1", "-validity", str(valid_days)]
    names = ",".join(f"{'ip' if _is_ip(host) else 'dns'}:{host}" for host in hosts)
    _keytool("-genkeypair", "-keystore", str(ca_store), *store, "-alias", "ca", *key,
             "-dname", "CN=decay-stream local test CA", "-ext", "bc:c", "-ext", "KU:c=keyCertSign,cRLSign")  # fmt: skip
    _keytool("-exportcert", "-keystore", str(ca_store), *store, "-alias", "ca", "-rfc",
             "-file", str(ca_file))  # fmt: skip
    _keytool("-genkeypair", "-keystore", str(keystore), *store, "-alias", "broker", *key,
             "-dname", f"CN={hosts[0]}")  # fmt: skip
    _keytool("-certreq", "-keystore", str(keystore), *store, "-alias", "broker",
             "-file", str(request))  # fmt: skip
    _keytool("-gencert", "-keystore", str(ca_store), *store, "-alias", "ca", "-rfc",
             "-infile", str(request), "-outfile", str(signed), "-validity", str(valid_days),
             "-ext", f"SAN={names}", "-ext", "KU=digitalSignature,keyAgreement",
             "-ext", "EKU=serverAuth")  # fmt: skip
    _keytool("-importcert", "-keystore", str(keystore), *store, "-alias", "ca", "-noprompt",
             "-file", str(ca_file))  # fmt: skip
    _keytool("-importcert", "-keystore", str(keystore), *store, "-alias", "broker",
             "-file", str(signed))  # fmt: skip
    ca_store.unlink()  # the CA's private key is not needed any more
    return LocalTls(ca_file=ca_file, keystore_file=keystore, keystore_password=password)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def sasl_ssl_properties(tls: LocalTls, listener: str = SASL_SSL_LISTENER) -> dict[str, str]:
    """Broker properties for a SASL_SSL listener named `listener` accepting the SCRAM mechanisms."""
    prefix = f"listener.name.{listener.lower()}."
    props = {
        prefix + "sasl.enabled.mechanisms": ",".join(SCRAM_MECHANISMS),
        prefix + "ssl.keystore.type": "PKCS12",
        prefix + "ssl.keystore.location": str(tls.keystore_file),
        prefix + "ssl.keystore.password": tls.keystore_password,
        prefix + "ssl.key.password": tls.keystore_password,
        prefix + "ssl.client.auth": "none",
    }
    for mechanism in SCRAM_MECHANISMS:
        props[f"{prefix}{mechanism.lower()}.sasl.jaas.config"] = SCRAM_LOGIN_MODULE
    return props


def sasl_ssl_kafka(
    data_dir: Path, users: Mapping[str, str], extra_properties: Mapping[str, str] | None = None
) -> tuple[LocalKafka, LocalTls]:
    """A local broker (not started) with a SASL_SSL listener for the SCRAM `users`.

    Clients connect to `broker.listener_bootstrap_servers(SASL_SSL_LISTENER)` trusting
    `tls.ca_file`; the PLAINTEXT listener stays for the broker's own readiness check.
    """
    tls = generate_tls(data_dir / "tls")
    broker = LocalKafka(
        data_dir=data_dir,
        extra_listeners={SASL_SSL_LISTENER: "SASL_SSL"},
        extra_properties={**sasl_ssl_properties(tls), **(extra_properties or {})},
        scram_users=dict(users),
    )
    return broker, tls
