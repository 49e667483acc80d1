"""`make gpu-check` (bench/gpu_check.py): the CPU path, as CI and a machine without a GPU run it.

The script runs with CUDA_VISIBLE_DEVICES="" so that it takes the no-GPU path on any machine.
The IOBinding call modes are checked on the CPU device (the same binding code as on CUDA).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bench import cuda
from bench.gpu_check import step_feeds
from bench.harness import parse_metrics
from stream_app.model.runtime import CPU
from stream_app.paths import DEFAULT_MODEL_PATH, REPO_ROOT


QuickRun = tuple[subprocess.CompletedProcess[str], Path]


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> QuickRun:
    out = tmp_path_factory.mktemp("gpu-check")
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run(
        [sys.executable, "-m", "bench.gpu_check", "--quick", "--out", str(out)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return done, out


def test_no_gpu_says_so_in_one_line_and_exits_0(
    quick_run: QuickRun,
) -> None:
    done, _ = quick_run
    assert done.returncode == 0, done.stdout + done.stderr
    lines = [line for line in done.stdout.splitlines() if "GPU" in line]
    assert len(lines) == 1 and lines[0].startswith("no GPU: "), done.stdout


def test_cpu_part_results_written(quick_run: QuickRun) -> None:
    _, out = quick_run
    res = json.loads((out / "gpu.json").read_text())
    assert res["gpu"] is None and res["failed"] == []
    assert set(res["parts"]) == {"cpu_parity", "cpu_throughput"}
    (parity,) = res["parts"]["cpu_parity"]["rows"]
    assert parity["pass"] and parity["max_abs_diff"] < 1e-4 and parity["users"] > 1
    rows = res["parts"]["cpu_throughput"]["rows"]
    assert [r["batch"] for r in rows] == sorted(r["batch"] for r in rows) and len(rows) >= 2
    assert all(r["events_per_s"] > 0 for r in rows)
    md = (out / "gpu.md").read_text()
    assert "## cpu_parity" in md and "## cpu_throughput" in md and "GPU: none" in md


def test_device_loop_keeps_the_state_between_calls() -> None:
    session = cuda.open_session(DEFAULT_MODEL_PATH, CPU)
    feeds = step_feeds(5, 48, np.random.default_rng(1))
    loop = cuda.device_loop_call(session, feeds, device="cpu")
    for _ in range(3):
        h_loop, c_loop = loop()  # type: ignore[misc]
    h, c = feeds["h"], feeds["c"]
    for _ in range(3):
        h, c = session.run(None, {**feeds, "h": h, "c": c})[:2]
    np.testing.assert_array_equal(h_loop.numpy(), h)
    np.testing.assert_array_equal(c_loop.numpy(), c)


def test_host_binding_matches_plain_run() -> None:
    session = cuda.open_session(DEFAULT_MODEL_PATH, CPU)
    feeds = step_feeds(7, 48, np.random.default_rng(2))
    bound = cuda.host_binding_call(session, feeds, device="cpu")()
    plain = cuda.plain_call(session, feeds)()
    for got, want in zip(bound, plain, strict=True):  # type: ignore[call-overload]
        np.testing.assert_array_equal(got, want)


def test_gpu_extra_is_what_the_gpu_image_installs() -> None:
    reqs = cuda.gpu_requirements()
    names = {re.split(r"[<>=~;\s]", r, maxsplit=1)[0] for r in reqs}
    assert {"nvidia-cuda-runtime", "nvidia-cublas", "nvidia-cudnn-cu13"} <= names
    assert all(";" in r for r in reqs), "Linux x86-64 only, like onnxruntime-gpu"
    dockerfile = (REPO_ROOT / "deploy" / "Dockerfile.gpu").read_text()
    assert "COPY deploy/requirements/gpu.lock " in dockerfile  # the [gpu] extra, locked
    lock = (REPO_ROOT / "deploy" / "requirements" / "gpu.lock").read_text()
    assert all(re.search(rf"^{re.escape(name)}==", lock, re.M) for name in names), names


def test_parse_metrics_sums_labels_and_keeps_them() -> None:
    text = (
        "# TYPE decay_events_consumed counter\n"
        'decay_events_consumed_total{type="view"} 3.0\n'
        'decay_events_consumed_total{type="cart"} 2.0\n'
        "# TYPE decay_model_batch_size histogram\n"
        'decay_model_batch_size_bucket{le="+Inf"} 4.0\n'
        "decay_model_batch_size_count 4.0\n"
        "decay_model_batch_size_sum 10.0\n"
    )
    m = parse_metrics(text)
    assert m["decay_events_consumed_total"] == 5.0
    assert m['decay_events_consumed_total{type="cart"}'] == 2.0
    assert m["decay_model_batch_size_sum"] / m["decay_model_batch_size_count"] == 2.5
