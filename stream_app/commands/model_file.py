"""The model file an offline command (score, policy simulate) opens: a clear error, or a runtime."""

from __future__ import annotations

from pathlib import Path

from stream_app.commands.errors import UsageError
from stream_app.model.runtime import ModelRuntime


def open_model(path: Path, prefer_cuda: bool = False) -> ModelRuntime:
    """The step graph, or UsageError naming the file and why it cannot score."""
    if not path.is_file():
        raise UsageError(f"--model {path}: no such model file")
    try:
        return ModelRuntime(path, prefer_cuda=prefer_cuda)
    except Exception as exc:  # onnxruntime's errors and a broken contract alike
        reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise UsageError(f"--model {path} cannot score: {reason}") from None
