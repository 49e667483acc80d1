"""The model step graph alone: events per second against the batch size, CPU and CUDA."""

from __future__ import annotations

import statistics
import time
from typing import Any

import numpy as np

from stream_app.paths import DEFAULT_MODEL_PATH


# --------------------------------------------------------------------------- model step
def time_call(fn: Any, seconds: float, min_iterations: int = 5) -> tuple[float, int]:
    """Median seconds per call of `fn()` over `seconds` (3 warm-up calls first), iterations."""
    for _ in range(3):
        fn()
    times: list[float] = []
    t_end = time.perf_counter() + seconds
    while time.perf_counter() < t_end or len(times) < min_iterations:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), len(times)


def model_micro(
    sizes: tuple[int, ...] = (1, 8, 64, 512, 2048), seconds: float = 1.0
) -> list[dict[str, Any]]:
    """ModelRuntime.step on the CPU, 1 intra-op thread, random inputs: median per batch size."""
    from stream_app.model.contract import CATEGORY_BUCKETS, NUMERIC_FEATURES
    from stream_app.model.runtime import ModelRuntime

    rt = ModelRuntime(DEFAULT_MODEL_PATH, prefer_cuda=False, intra_op_threads=1)
    rng = np.random.default_rng(0)
    out = []
    for b in sizes:
        et = rng.integers(0, 6, b)
        cat = rng.integers(0, CATEGORY_BUCKETS, b)
        num = rng.standard_normal((b, len(NUMERIC_FEATURES))).astype(np.float32)
        h, c = rt.initial_state(b)
        med, iterations = time_call(lambda: rt.step(et, cat, num, h, c), seconds)  # noqa: B023
        out.append(
            {
                "batch": b,
                "provider": rt.provider,
                "step_ms_median": med * 1e3,
                "events_per_s": b / med,
                "iterations": iterations,
            }
        )
    return out
