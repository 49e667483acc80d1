"""CUDA plumbing of `make gpu-check`: find the GPU, install and load the CUDA 13 / cuDNN 9
runtime wheels, open sessions on a named provider, and the three ways to call the step graph.

Every call that needs CUDA is only reached after `detect_gpu` found a device; errors are
raised to the caller, which records them (bench/gpu_check.py) instead of stopping.
"""

from __future__ import annotations

import ctypes
import io
import subprocess
import sys
import tomllib
from collections.abc import Callable
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from stream_app.model.contract import INPUT_C, INPUT_H, OUTPUT_NAMES
from stream_app.model.runtime import CPU, CUDA
from stream_app.paths import REPO_ROOT

Feeds = dict[str, np.ndarray]
_CU_DEVICE_ATTRIBUTE_CC_MAJOR = 75
_CU_DEVICE_ATTRIBUTE_CC_MINOR = 76


# --------------------------------------------------------------------------- device
def detect_gpu() -> tuple[dict[str, Any] | None, str]:
    """GPU 0 as seen by the CUDA driver (honours CUDA_VISIBLE_DEVICES), or None and why."""
    try:
        lib = ctypes.CDLL("libcuda.so.1")
    except OSError:
        return None, "no NVIDIA driver (libcuda.so.1 not found)"
    rc = lib.cuInit(0)
    if rc != 0:
        return None, f"CUDA driver found but cuInit failed (CUresult {rc}: no usable device)"
    count = ctypes.c_int(0)
    if lib.cuDeviceGetCount(ctypes.byref(count)) != 0 or count.value == 0:
        return None, "CUDA driver found but no device is visible"
    return _device_info(lib, count.value), "ok"


def _device_info(lib: ctypes.CDLL, count: int) -> dict[str, Any]:
    dev = ctypes.c_int(0)
    lib.cuDeviceGet(ctypes.byref(dev), 0)
    name = ctypes.create_string_buffer(256)
    lib.cuDeviceGetName(name, 256, dev)
    mem = ctypes.c_size_t(0)
    lib.cuDeviceTotalMem_v2(ctypes.byref(mem), dev)
    driver, major, minor = ctypes.c_int(0), ctypes.c_int(0), ctypes.c_int(0)
    lib.cuDriverGetVersion(ctypes.byref(driver))
    lib.cuDeviceGetAttribute(ctypes.byref(major), _CU_DEVICE_ATTRIBUTE_CC_MAJOR, dev)
    lib.cuDeviceGetAttribute(ctypes.byref(minor), _CU_DEVICE_ATTRIBUTE_CC_MINOR, dev)
    return {
        "name": name.value.decode(errors="replace"),
        "devices": count,
        "memory_gib": round(mem.value / 2**30, 1),
        "driver_cuda_version": f"{driver.value // 1000}.{driver.value % 1000 // 10}",
        "compute_capability": f"{major.value}.{minor.value}",
    }


# --------------------------------------------------------------------------- install
def gpu_requirements(pyproject: Path = REPO_ROOT / "pyproject.toml") -> list[str]:
    """The `[gpu]` extra of pyproject.toml: the CUDA and cuDNN runtime wheels."""
    with pyproject.open("rb") as f:
        return list(tomllib.load(f)["project"]["optional-dependencies"]["gpu"])


def install_gpu_wheels(timeout_seconds: float = 900.0) -> str:
    """pip-install the `[gpu]` extra into this interpreter; a one-line outcome."""
    reqs = gpu_requirements()
    # Already-installed wheels need no index; a machine without network fails fast.
    command = [sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    command += ["--retries", "1", "--timeout", "15"]
    try:
        done = subprocess.run(
            [*command, *reqs], capture_output=True, text=True, timeout=timeout_seconds
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"install failed ({exc!r}); continuing with what is installed"
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["?"])[-1]
        return f"install failed (pip exit {done.returncode}: {last}); continuing"
    return f"[gpu] extra present ({len(reqs)} requirements installed or already satisfied)"


def preload_cuda_libraries() -> str:
    """onnxruntime.preload_dlls() (CUDA/cuDNN from the nvidia-* wheels) where available."""
    if not hasattr(ort, "preload_dlls"):
        return "onnxruntime has no preload_dlls(): relying on the system library path"
    captured = io.StringIO()
    with redirect_stdout(captured), redirect_stderr(captured):
        ort.preload_dlls()
    said = " ".join(captured.getvalue().split())
    return f"preload_dlls() done{': ' + said if said else ''}"


# --------------------------------------------------------------------------- sessions
def open_session(
    path: Path, provider: str, cuda_options: dict[str, str] | None = None, threads: int = 1
) -> ort.InferenceSession:
    """A session on `provider` (CPU as ONNX Runtime's fallback for CUDA), spinning off."""
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    providers: list[Any] = [CPU]
    if provider == CUDA:
        providers = [(CUDA, {"device_id": "0", **(cuda_options or {})}), CPU]
    return ort.InferenceSession(str(path), opts, providers=providers)


def require_cuda(session: ort.InferenceSession) -> dict[str, Any]:
    """Raise unless CUDA really serves `session`; its provider list and options otherwise."""
    providers = session.get_providers()
    if providers[0] != CUDA:
        raise RuntimeError(f"CUDA provider not serving the session (providers: {providers})")
    options = session.get_provider_options().get(CUDA, {})
    keep = ("device_id", "use_tf32", "cudnn_conv_algo_search", "arena_extend_strategy")
    return {"providers": providers, "options": {k: options[k] for k in keep if k in options}}


# --------------------------------------------------------------------------- step calls
def plain_call(session: ort.InferenceSession, feeds: Feeds) -> Callable[[], object]:
    """session.run with numpy in and out (host copies every call)."""
    return lambda: session.run(None, feeds)


def host_binding_call(
    session: ort.InferenceSession, feeds: Feeds, device: str = "cuda"
) -> Callable[[], object]:
    """The worker's path (ModelRuntime._run_cuda): host inputs, outputs on the device, copied
    back; the state lives in the table, so it crosses the bus both ways every batch."""

    def call() -> object:
        binding = session.io_binding()
        for name, value in feeds.items():
            binding.bind_cpu_input(name, value)
        for name in OUTPUT_NAMES:
            binding.bind_output(name, device)
        session.run_with_iobinding(binding)
        return binding.copy_outputs_to_cpu()

    return call


def device_loop_call(
    session: ort.InferenceSession, feeds: Feeds, device: str = "cuda"
) -> Callable[[], object]:
    """Inputs and (h, c) kept on the device: each call reads the state the previous one wrote
    (two buffers, swapped), nothing is copied. The upper bound; the worker's state is host-side."""
    shapes = {
        o: np.asarray(v).shape for o, v in zip(OUTPUT_NAMES, session.run(None, feeds), strict=True)
    }
    ov = ort.OrtValue

    def on_device(arr: np.ndarray) -> Any:
        # A copy each: on the CPU an OrtValue shares the array's memory.
        return ov.ortvalue_from_numpy(np.array(arr, copy=True, order="C"), device, 0)

    inputs = {k: on_device(v) for k, v in feeds.items()}
    heads = {
        o: ov.ortvalue_from_shape_and_type(s, np.float32, device, 0) for o, s in shapes.items()
    }
    states = [
        (inputs[INPUT_H], inputs[INPUT_C]),
        (on_device(feeds[INPUT_H]), on_device(feeds[INPUT_C])),
    ]
    bindings = [_loop_binding(session, inputs, heads, states[i], states[1 - i]) for i in (0, 1)]
    turn = [0]

    def call() -> object:
        """One step; returns the (h, c) OrtValues it wrote, the next call's state."""
        session.run_with_iobinding(bindings[turn[0]])
        turn[0] ^= 1
        return states[turn[0]]

    return call


def _loop_binding(
    session: ort.InferenceSession,
    inputs: dict[str, Any],
    heads: dict[str, Any],
    state_in: tuple[Any, Any],
    state_out: tuple[Any, Any],
) -> Any:
    binding = session.io_binding()
    for name, value in {**inputs, INPUT_H: state_in[0], INPUT_C: state_in[1]}.items():
        binding.bind_ortvalue_input(name, value)
    h_out, c_out = OUTPUT_NAMES[0], OUTPUT_NAMES[1]
    for name, value in {**heads, h_out: state_out[0], c_out: state_out[1]}.items():
        binding.bind_ortvalue_output(name, value)
    return binding
