"""ONNX Runtime session for the exported step graph: load, check the contract, step batches.

CUDA is tried first and CPU is the fallback. Probing CUDA on a machine without CUDA 13/cuDNN 9
makes ONNX Runtime log errors; they are muted during the probe and exactly one line says which
provider serves the model (`session.get_providers()[0]`).
"""

from __future__ import annotations

import io
import logging
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from stream_app.model.categories import CategoryBlend
from stream_app.model.contract import (
    GRAPH_STEP,
    INPUT_C,
    INPUT_CATEGORY,
    INPUT_EVENT_TYPE,
    INPUT_H,
    INPUT_NUMERIC,
    NUMERIC_FEATURES,
    OUTPUT_PI,
    ContractError,
    ModelSpec,
    check_model,
)
from stream_app.model.served_graph import (
    INPUT_STEP_OUTPUT,
    TOP_OUTPUTS,
    step_graph,
    top_buckets_graph,
)
from stream_app.model.survival import Calibration

log = logging.getLogger(__name__)

CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"
_ORT_WARNING = 2
_ORT_FATAL = 4

F32 = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class StepOutput:
    """Outputs of one batched step: new state and head parameters, numpy float32 (π is not
    computed by the step: `ModelRuntime.top_buckets`)."""

    h: F32
    c: F32
    mu: F32
    alpha: F32
    beta: F32


@dataclass(frozen=True, slots=True)
class TopOutput:
    """π's top buckets of each component (`stream_app.model.served_graph`) for B users:
    (B, R, TOP) weights, largest first, and their bucket ids."""

    weights: F32
    ids: npt.NDArray[np.int64]


def _session_options(intra_op_threads: int, severity: int) -> ort.SessionOptions:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = intra_op_threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = severity
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.add_session_config_entry("session.inter_op.allow_spinning", "0")
    return opts


def _try_cuda(model: str | bytes, intra_op_threads: int) -> ort.InferenceSession | None:
    """A CUDA session, or None; ONNX Runtime's own error output is muted meanwhile."""
    if CUDA not in ort.get_available_providers():
        return None
    ort.set_default_logger_severity(_ORT_FATAL)
    try:
        if hasattr(ort, "preload_dlls"):  # CUDA/cuDNN from nvidia-* wheels, if present
            with redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()):
                ort.preload_dlls()
        session = ort.InferenceSession(
            model, _session_options(intra_op_threads, _ORT_FATAL), providers=[CUDA, CPU]
        )
    except Exception:  # no usable CUDA on this machine: the CPU session follows
        return None
    finally:
        ort.set_default_logger_severity(_ORT_WARNING)
    return session if session.get_providers()[0] == CUDA else None


def open_session(
    model: Path | bytes, prefer_cuda: bool = True, intra_op_threads: int = 1
) -> ort.InferenceSession:
    """Inference session on CUDA when it really runs there, else on CPU (a file or the
    serialized graph)."""
    source = model if isinstance(model, bytes) else str(model)
    session = _try_cuda(source, intra_op_threads) if prefer_cuda else None
    if session is None:
        opts = _session_options(intra_op_threads, _ORT_WARNING)
        session = ort.InferenceSession(source, opts, providers=[CPU])
    return session


class ModelRuntime:
    """The step graph behind a batched `step` API; the session keeps no user state.

    The file's contract is checked on the exported graph; it is served as two sessions
    (`stream_app.model.served_graph`): the step without π, and π's top buckets from h.
    """

    def __init__(self, path: Path, prefer_cuda: bool = True, intra_op_threads: int = 1) -> None:
        self.path = Path(path)
        exported = self.path.read_bytes()
        step, outputs = step_graph(exported)
        self.session = open_session(step, prefer_cuda, intra_op_threads)
        meta = self.session.get_modelmeta().custom_metadata_map
        inputs = [i.name for i in self.session.get_inputs()]
        self.spec: ModelSpec = check_model(meta, inputs, [*outputs, OUTPUT_PI])
        self._step_outputs = outputs
        if self.spec.graph_kind != GRAPH_STEP:
            raise ContractError(f"{self.path} is a {self.spec.graph_kind!r} graph, not 'step'")
        self.provider: str = self.session.get_providers()[0]
        self.top_session = open_session(
            top_buckets_graph(exported), self.provider == CUDA, intra_op_threads
        )
        self.calibration = Calibration(*self.spec.calibration, self.spec.covariate_weights)
        blend = self.spec.category_blend
        #: How `stream_app.model.categories.rank_categories` blends head and recent categories.
        self.category_blend = CategoryBlend.from_json(blend) if blend else CategoryBlend()
        log.info(
            "decay model %s (%s) runs on %s",
            self.spec.model_version,
            self.path.name,
            self.provider,
        )

    @property
    def on_cuda(self) -> bool:
        """True when the session really executes on the GPU."""
        return self.provider == CUDA

    def initial_state(self, batch: int) -> tuple[F32, F32]:
        """Zero (h, c) for `batch` users who have no state yet."""
        shape = (batch, self.spec.hidden_size)
        return np.zeros(shape, np.float32), np.zeros(shape, np.float32)

    def step(
        self,
        event_type: npt.ArrayLike,
        category_bucket: npt.ArrayLike,
        numeric: npt.ArrayLike,
        h: npt.ArrayLike,
        c: npt.ArrayLike,
    ) -> StepOutput:
        """One LSTM step for B events of B distinct users: (B,), (B,), (B, F), (B, S) ×2."""
        feeds = _feeds(event_type, category_bucket, numeric, h, c, self.spec.hidden_size)
        values = self._run(self.session, feeds, self._step_outputs)
        return StepOutput(*(np.asarray(v) for v in values))

    def top_buckets(self, h: npt.ArrayLike) -> TopOutput:
        """π's top buckets of B users from their h after their last step: (B, hidden)."""
        rows = np.ascontiguousarray(h, np.float32)
        if rows.ndim != 2 or rows.shape[1] != self.spec.hidden_size:
            raise ValueError(f"h has shape {rows.shape}, expected (B, {self.spec.hidden_size})")
        feeds = {INPUT_STEP_OUTPUT: rows[None, None]}
        weights, ids = self._run(self.top_session, feeds, list(TOP_OUTPUTS))
        return TopOutput(np.asarray(weights), np.asarray(ids))

    def _run(
        self, session: ort.InferenceSession, feeds: dict[str, Any], outputs: list[str]
    ) -> list[Any]:
        if not self.on_cuda:
            return list(session.run(outputs, feeds))
        binding = session.io_binding()
        for name, value in feeds.items():
            binding.bind_cpu_input(name, value)
        for name in outputs:
            binding.bind_output(name, "cuda")
        session.run_with_iobinding(binding)
        return list(binding.copy_outputs_to_cpu())


def _feeds(
    event_type: npt.ArrayLike,
    category_bucket: npt.ArrayLike,
    numeric: npt.ArrayLike,
    h: npt.ArrayLike,
    c: npt.ArrayLike,
    hidden_size: int,
) -> dict[str, Any]:
    """Validated, contiguous, correctly typed input arrays."""
    feeds: dict[str, Any] = {
        INPUT_EVENT_TYPE: np.ascontiguousarray(event_type, np.int64).reshape(-1),
        INPUT_CATEGORY: np.ascontiguousarray(category_bucket, np.int64).reshape(-1),
        INPUT_NUMERIC: np.ascontiguousarray(numeric, np.float32),
        INPUT_H: np.ascontiguousarray(h, np.float32),
        INPUT_C: np.ascontiguousarray(c, np.float32),
    }
    batch = feeds[INPUT_EVENT_TYPE].shape[0]
    expected = {
        INPUT_CATEGORY: (batch,),
        INPUT_NUMERIC: (batch, len(NUMERIC_FEATURES)),
        INPUT_H: (batch, hidden_size),
        INPUT_C: (batch, hidden_size),
    }
    for name, shape in expected.items():
        if feeds[name].shape != shape:
            raise ValueError(f"{name} has shape {feeds[name].shape}, expected {shape}")
    return feeds
