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
    ContractError,
    ModelSpec,
    check_model,
)
from stream_app.model.served_graph import SERVED_OUTPUTS, as_exported, with_top_buckets
from stream_app.model.survival import Calibration

log = logging.getLogger(__name__)

CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"
_ORT_WARNING = 2
_ORT_FATAL = 4

F32 = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class StepOutput:
    """Outputs of one batched step: new state and head parameters, numpy float32; of π, the
    top buckets of each component (`stream_app.model.served_graph`): (B, R, TOP) weights,
    largest first, and their bucket ids."""

    h: F32
    c: F32
    mu: F32
    alpha: F32
    beta: F32
    top_weights: F32
    top_ids: npt.NDArray[np.int64]


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

    The file's contract is checked on the exported graph; the session serves it with π's top
    buckets taken inside (`stream_app.model.served_graph`).
    """

    def __init__(self, path: Path, prefer_cuda: bool = True, intra_op_threads: int = 1) -> None:
        self.path = Path(path)
        exported = self.path.read_bytes()
        self.session = open_session(with_top_buckets(exported), prefer_cuda, intra_op_threads)
        meta = self.session.get_modelmeta().custom_metadata_map
        inputs = [i.name for i in self.session.get_inputs()]
        outputs = [o.name for o in self.session.get_outputs()]
        self.spec: ModelSpec = check_model(meta, inputs, as_exported(outputs))
        if self.spec.graph_kind != GRAPH_STEP:
            raise ContractError(f"{self.path} is a {self.spec.graph_kind!r} graph, not 'step'")
        self.provider: str = self.session.get_providers()[0]
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
        values = self._run_cuda(feeds) if self.on_cuda else self.session.run(SERVED, feeds)
        return StepOutput(*(np.asarray(v) for v in values))

    def _run_cuda(self, feeds: dict[str, Any]) -> list[Any]:
        binding = self.session.io_binding()
        for name, value in feeds.items():
            binding.bind_cpu_input(name, value)
        for name in SERVED_OUTPUTS:
            binding.bind_output(name, "cuda")
        self.session.run_with_iobinding(binding)
        return list(binding.copy_outputs_to_cpu())


SERVED = list(SERVED_OUTPUTS)


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
