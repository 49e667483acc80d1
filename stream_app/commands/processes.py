"""Worker processes started by commands, benchmarks and tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from stream_app.settings import Settings


def spawn_worker(
    settings: Settings, env: dict[str, str] | None = None, log_path: Path | None = None
) -> subprocess.Popen[bytes]:
    """Start `decay-stream worker` as a child process with `settings` in its environment."""
    child_env = {**os.environ, **settings.to_env(), **(env or {})}
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
