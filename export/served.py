"""The served path of a trained model: exported to ONNX and scored by `score`, as a user would.

Every test-cutoff row of the model is computed here, so what the report says is what the ONNX
graph and `decay-stream score` give.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import numpy.typing as npt

from export.model import DecayModel
from export.onnx_export import ExportInfo, export_onnx
from stream_app.model.eventlog import EventLog
from stream_app.model.runtime import ModelRuntime
from stream_app.model.scoring import score
from stream_app.model.survival import Calibration

F64 = npt.NDArray[np.float64]


def score_runtime(
    runtime: ModelRuntime, log_: EventLog, users: npt.NDArray[np.object_], cutoff_seconds: float
) -> F64:
    """`score`'s P(return within H) at the cutoff for `users` (each has history before it)."""
    scores = score(runtime, log_, cutoff_seconds)
    index = {u: i for i, u in enumerate(scores.user_id)}
    out: F64 = scores.p_return[np.array([index[u] for u in users], np.int64)]
    return out


def served_probability(
    model: DecayModel,
    calibration: Calibration,
    horizon_days: float,
    log_: EventLog,
    users: npt.NDArray[np.object_],
    cutoff_seconds: float,
) -> F64:
    """Export the model with its calibration to a scratch directory, then score it there."""
    with tempfile.TemporaryDirectory(prefix="decay-origin-") as tmp:
        info = ExportInfo("origin", horizon_days, calibration, "origin")
        step, _ = export_onnx(model, info, Path(tmp))
        return score_runtime(ModelRuntime(step, prefer_cuda=False), log_, users, cutoff_seconds)
