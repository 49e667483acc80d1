"""The serving model: an ONNX step graph behind an async, batched `step`, with hot reload.

Inference runs on one worker thread, off the event loop. A new artifact at the same path (written
atomically: write elsewhere, then rename) is picked up by `maybe_reload()` without a restart.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import numpy.typing as npt

from stream_app.model.features import EncodedEvents
from stream_app.model.runtime import CUDA, ModelRuntime, StepOutput
from stream_app.schedule.levels import DecayModel
from stream_app.state import ModelState, UserState
from stream_app.state.model_state import TopBuckets, top_buckets_of
from stream_app.worker.log_fields import set_model_version
from stream_app.worker.metrics import Metrics

log = logging.getLogger(__name__)

F32 = npt.NDArray[np.float32]
ALERTS_OFF_HINT = "(set DECAY_MODEL_PATH, or DECAY_ALERTS_ENABLED=false to run without alerts)"


class ModelFileError(ValueError):
    """The model file is missing or cannot serve; the message names the file and the fix."""


@dataclass
class ServingModel:
    """The currently loaded runtime, its file's identity and a single inference thread."""

    path: Path
    metrics: Metrics
    prefer_cuda: bool = True
    intra_op_threads: int = 1
    runtime: ModelRuntime | None = None
    #: Added to the artifact's Platt intercept (`DECAY_CALIBRATION_ONLINE`); 0 = as trained.
    intercept_shift: float = 0.0
    _stamp: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="onnx")

    @property
    def version(self) -> str:
        """Version of the loaded model."""
        assert self.runtime is not None
        return self.runtime.spec.model_version

    @property
    def hidden_size(self) -> int:
        """LSTM state size."""
        assert self.runtime is not None
        return self.runtime.spec.hidden_size

    @property
    def decay(self) -> DecayModel:
        """Horizon and calibration (with the online intercept shift) for the survival math."""
        assert self.runtime is not None
        calibration = self.runtime.calibration
        if self.intercept_shift:
            calibration = replace(calibration, b=calibration.b + self.intercept_shift)
        return DecayModel(
            self.runtime.spec.horizon_days,
            calibration,
            self.runtime.spec.kernel_shapes,
            self.runtime.spec.model_version,
        )

    def load(self) -> None:
        """Load the artifact now (start-up); ModelFileError if it is missing or cannot serve."""
        if not self.path.is_file():
            raise ModelFileError(f"no model file at {self.path} {ALERTS_OFF_HINT}")
        try:
            runtime = ModelRuntime(self.path, self.prefer_cuda, self.intra_op_threads)
        except Exception as exc:  # onnxruntime's errors, a broken contract: all refuse to start
            reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
            raise ModelFileError(
                f"model {self.path} cannot serve: {reason} {ALERTS_OFF_HINT}"
            ) from None
        self._swap(runtime, self._file_stamp())

    async def maybe_reload(self) -> bool:
        """Load the artifact again if the file changed; keep the old model if the new one fails."""
        stamp = self._file_stamp()
        if stamp is None or stamp == self._stamp:
            return False
        loop = asyncio.get_running_loop()
        try:
            runtime = await loop.run_in_executor(
                self._executor, ModelRuntime, self.path, self.prefer_cuda, self.intra_op_threads
            )
        except Exception:
            self._stamp = stamp  # do not retry the same broken file every tick
            self.metrics.model_reloads_total.labels("failed").inc()
            log.exception(
                "model reload from %s failed; keeping version %s", self.path, self.version
            )
            return False
        self._swap(runtime, stamp)
        self.metrics.model_reloads_total.labels("loaded").inc()
        return True

    def _swap(self, runtime: ModelRuntime, stamp: tuple[int, int] | None) -> None:
        self.runtime, self._stamp = runtime, stamp
        spec = runtime.spec
        set_model_version(spec.model_version)
        self.metrics.model_info.info(
            {"version": spec.model_version, "horizon_days": f"{spec.horizon_days:g}"}
        )
        self.metrics.model_provider.clear()
        self.metrics.model_provider.labels(runtime.provider).set(1)
        self.metrics.model_gpu_fallback.set(
            1 if self.prefer_cuda and runtime.provider != CUDA else 0
        )

    def _file_stamp(self) -> tuple[int, int] | None:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return None
        return stat.st_mtime_ns, stat.st_ino

    async def step(self, encoded: EncodedEvents, h: F32, c: F32) -> StepOutput:
        """One batched LSTM step on the inference thread."""
        runtime = self.runtime
        assert runtime is not None
        loop = asyncio.get_running_loop()
        with self.metrics.model_step_seconds.time():
            out = await loop.run_in_executor(
                self._executor,
                runtime.step,
                encoded.event_type,
                encoded.category_bucket,
                encoded.numeric,
                h,
                c,
            )
        self.metrics.model_batch_size.observe(len(encoded.event_type))
        return out

    def with_top_buckets(self, states: Sequence[UserState]) -> list[UserState]:
        """The states with π's top buckets where their model state has none (the step does not
        compute π), from their h, all in one run: what an alert or an action names categories
        by. A state of another model version than the loaded one keeps none (this model's π
        cannot read its h)."""
        out = list(states)
        runtime = self.runtime
        if runtime is None:
            return out
        need = [(i, s.model) for i, s in enumerate(states) if s.model and self._lacks_top(s.model)]
        if not need:
            return out
        top = runtime.top_buckets(np.stack([np.asarray(m.h, np.float32) for _, m in need]))
        weights = top.weights.reshape(len(need), -1)
        for (i, model), ids, w in zip(need, top.ids.tolist(), weights, strict=True):
            out[i] = replace(states[i], model=replace(model, top_buckets=TopBuckets(ids, w)))
        return out

    def _lacks_top(self, model: ModelState) -> bool:
        return (
            not top_buckets_of(model.top_buckets).buckets
            and model.version == self.version
            and len(model.h) == self.hidden_size
        )

    def close(self) -> None:
        """Stop the inference thread."""
        self._executor.shutdown(wait=False)
