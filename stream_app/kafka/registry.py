"""A small client of a schema registry's Confluent-compatible REST API (Confluent Schema
Registry, Apicurio Registry's `/apis/ccompat/v7`, Karapace, Redpanda)."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"


class RegistryError(RuntimeError):
    """The registry refused a request; the message has its error code and reason."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class SchemaRegistry:
    """Subjects, versions and compatibility levels on one registry."""

    def __init__(self, url: str, username: str | None = None, password: str | None = None) -> None:
        self.url = url.rstrip("/")
        self._authorization = None
        if username is not None and password is not None:
            token = base64.b64encode(f"{username}:{password}".encode()).decode()
            self._authorization = f"Basic {token}"

    def set_compatibility(self, subject: str, level: str) -> str:
        """Set the subject's compatibility level (works before its first version)."""
        body = self._request("PUT", f"/config/{_quoted(subject)}", {"compatibility": level})
        return str(body.get("compatibility", body.get("compatibilityLevel", level)))

    def register(self, subject: str, schema_text: str) -> int:
        """Register a JSON Schema under `subject`; its id (the same id if already there)."""
        payload = {"schemaType": "JSON", "schema": schema_text}
        body = self._request("POST", f"/subjects/{_quoted(subject)}/versions", payload)
        return int(body["id"])

    def latest(self, subject: str) -> dict[str, Any]:
        """The latest version of `subject`: `subject`, `version`, `id`, `schema`."""
        body: dict[str, Any] = self._request(
            "GET", f"/subjects/{_quoted(subject)}/versions/latest", None
        )
        return body

    def schema_ids(self, subject: str) -> frozenset[int]:
        """The schema id of every version of `subject`; empty when it is not registered."""
        try:
            versions = self._request("GET", f"/subjects/{_quoted(subject)}/versions", None)
        except RegistryError as exc:
            if exc.status == 404:
                return frozenset()
            raise
        return frozenset(
            int(self._request("GET", f"/subjects/{_quoted(subject)}/versions/{int(v)}", None)["id"])
            for v in versions
        )

    def _request(self, method: str, path: str, payload: dict[str, Any] | None) -> Any:
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(  # noqa: S310 (the URL is the operator's registry)
            self.url + path, data=data, method=method,
            headers={"Content-Type": CONTENT_TYPE, "Accept": CONTENT_TYPE},
        )  # fmt: skip
        if self._authorization is not None:
            request.add_header("Authorization", self._authorization)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                return json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode("utf-8", "replace")[:500]
            raise RegistryError(f"{method} {path}: HTTP {exc.code}: {detail}", exc.code) from None


def _quoted(subject: str) -> str:
    return urllib.parse.quote(subject, safe="")
