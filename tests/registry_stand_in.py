"""A local stand-in of a schema registry's Confluent-compatible REST API, for tests.

No registry that runs here was found (see docs/contracts.md, Compatibility). The stand-in
answers as the Confluent API documents and records every request.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class StandInRegistry:
    """Subjects with their versions and compatibility levels; every request as received."""

    requests: list[tuple[str, str, dict[str, str], Any]] = field(default_factory=list)
    versions: dict[str, list[str]] = field(default_factory=dict)
    levels: dict[str, str] = field(default_factory=dict)
    refuse: str | None = None  # a subject whose registration is refused (HTTP 409)

    def answer(self, method: str, path: str, body: Any) -> tuple[int, dict[str, Any]]:
        parts = path.strip("/").split("/")
        if method == "PUT" and parts[0] == "config":
            self.levels[parts[1]] = body["compatibility"]
            return 200, {"compatibility": body["compatibility"]}
        if method == "POST" and parts[0] == "subjects" and parts[2] == "versions":
            subject = parts[1]
            if subject == self.refuse:
                return 409, {
                    "error_code": 409,
                    "message": "Schema being registered is incompatible",
                }
            known = self.versions.setdefault(subject, [])
            if body["schema"] not in known:
                known.append(body["schema"])
            return 200, {"id": 100 + known.index(body["schema"])}
        if method == "GET" and parts[0] == "subjects" and parts[2] == "versions":
            if parts[1] not in self.versions:
                return 404, {"error_code": 40401, "message": "Subject not found"}
            schemas = self.versions[parts[1]]
            if len(parts) == 3:
                return 200, list(range(1, len(schemas) + 1))  # type: ignore[return-value]
            version = int(parts[3])
            return 200, {"subject": parts[1], "version": version, "id": 100 + version - 1}
        return 404, {"error_code": 40401, "message": "Subject not found"}


@contextmanager
def serving(state: StandInRegistry) -> Iterator[str]:
    """Serve `state` on a free local port; yields its URL."""

    class Handler(BaseHTTPRequestHandler):
        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            state.requests.append((self.command, self.path, dict(self.headers), body))
            status, answer = state.answer(self.command, self.path, body)
            payload = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/vnd.schemaregistry.v1+json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def do_PUT(self) -> None:
            self._handle()

        def do_POST(self) -> None:
            self._handle()

        def do_GET(self) -> None:
            self._handle()

        def log_message(self, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
