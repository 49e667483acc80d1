"""`make gpu-check` (issue #16): does the CUDA provider really serve the model, does it agree with
the CPU, and what does it buy, per step and in the full worker?

    .venv/bin/python -m bench.gpu_check [--install] [--quick] [--out DIR]

Without a GPU (no driver, or CUDA_VISIBLE_DEVICES="") it says so in one line, runs the CPU part
(step vs sequence parity on real sequences, CPU step throughput against batch size) and exits
0. With one it first installs the `[gpu]` extra (--install; CUDA 13 / cuDNN 9 runtime wheels),
loads them (onnxruntime.preload_dlls), then: the CUDA session check, CUDA vs CPU parity of both
graphs, step throughput with and without IOBinding, and the full worker (c) on CUDA vs CPU in
the same invocation. Each part's error is recorded and the next part runs; results are written
after every part to bench/results/gpu.{json,md}. Exit 1 when a check failed.
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench import cuda
from bench.gpu_report import write_gpu_results
from bench.gpu_sequences import (
    hidden_size,
    parity_entry,
    real_sequences,
    sequence_outputs,
    step_outputs,
)
from bench.harness import RESULTS, build_messages, local_broker, log, machine
from bench.model_step import time_call
from bench.systems import run_worker
from stream_app.model.contract import (
    CATEGORY_BUCKETS,
    INPUT_C,
    INPUT_CATEGORY,
    INPUT_EVENT_TYPE,
    INPUT_H,
    INPUT_NUMERIC,
    NUMERIC_FEATURES,
)
from stream_app.model.runtime import CPU, CUDA
from stream_app.paths import DEFAULT_MODEL_PATH, DEFAULT_SEQUENCE_MODEL_PATH


@dataclass(frozen=True)
class Plan:
    """Sizes of one gpu-check run (`--quick` shrinks every part)."""

    users: int
    steps: int
    batches: tuple[int, ...]
    seconds: float
    events: int
    runs: int


#: The Taobao slice's 64 busiest users have ≥ 10 events each.
FULL = Plan(
    users=64,
    steps=10,
    batches=(1, 16, 64, 256, 1024, 4096, 16384),
    seconds=1.0,
    events=50_000,
    runs=2,
)
QUICK = Plan(16, 8, (1, 64, 1024), seconds=0.1, events=5_000, runs=1)


# --------------------------------------------------------------------------- throughput
def step_feeds(batch: int, hidden: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Random step-graph inputs for `batch` users."""
    return {
        INPUT_EVENT_TYPE: rng.integers(0, 6, batch).astype(np.int64),
        INPUT_CATEGORY: rng.integers(0, CATEGORY_BUCKETS, batch).astype(np.int64),
        INPUT_NUMERIC: rng.standard_normal((batch, len(NUMERIC_FEATURES))).astype(np.float32),
        INPUT_H: np.zeros((batch, hidden), np.float32),
        INPUT_C: np.zeros((batch, hidden), np.float32),
    }


CallFactory = Callable[[Any, dict[str, np.ndarray]], Callable[[], object]]


def throughput(
    session: Any, modes: dict[str, CallFactory], batches: tuple[int, ...], seconds: float
) -> list[dict[str, Any]]:
    """Median ms per step and events/s of each call mode at each batch size."""
    hidden = hidden_size(session)
    rng = np.random.default_rng(0)
    rows = []
    for batch in batches:
        feeds = step_feeds(batch, hidden, rng)
        for mode, factory in modes.items():
            row: dict[str, Any] = {"batch": batch, "mode": mode}
            try:
                median, iterations = time_call(factory(session, feeds), seconds)
                row |= {"step_ms_median": median * 1e3, "events_per_s": batch / median}
                row["iterations"] = iterations
            except Exception as exc:  # e.g. out of device memory at one size: record, go on
                row["error"] = repr(exc)
            rows.append(row)
    return rows


# --------------------------------------------------------------------------- parts
def cpu_parity(plan: Plan, res: dict[str, Any]) -> dict[str, Any]:
    """Step graph event by event vs the sequence graph, both on the CPU."""
    seqs = real_sequences(plan.users, plan.steps)
    step = cuda.open_session(DEFAULT_MODEL_PATH, CPU)
    seq = cuda.open_session(DEFAULT_SEQUENCE_MODEL_PATH, CPU)
    hidden = hidden_size(step)
    users = int(seqs[INPUT_EVENT_TYPE].shape[0])
    a, b = step_outputs(step, seqs, hidden), sequence_outputs(seq, seqs, hidden)
    row = parity_entry("CPU step vs CPU sequence", a, b, users)
    return {"rows": [row], "pass": row["pass"]}


def cpu_throughput(plan: Plan, res: dict[str, Any]) -> dict[str, Any]:
    """CPU step throughput, 1 intra-op thread (as the worker), against batch size."""
    session = cuda.open_session(DEFAULT_MODEL_PATH, CPU)
    rows = throughput(session, {"cpu run": cuda.plain_call}, plan.batches, plan.seconds)
    return {"provider": session.get_providers()[0], "rows": rows}


def cuda_session(plan: Plan, res: dict[str, Any]) -> dict[str, Any]:
    """Both graphs open on CUDA, and CUDA (not a silent CPU fallback) serves them."""
    out = {"device": res.get("gpu")}
    for label, path in (("step", DEFAULT_MODEL_PATH), ("sequence", DEFAULT_SEQUENCE_MODEL_PATH)):
        out[label] = cuda.require_cuda(cuda.open_session(path, CUDA))
    log(f"CUDA provider serves both graphs on {res['machine']['gpu']}: {out['step']}")
    return out


def cuda_parity(plan: Plan, res: dict[str, Any]) -> dict[str, Any]:
    """CUDA vs CPU for both graphs on the same real sequences, with the worker's CUDA options;
    if those differ by more than the tolerance, once more with TF32 off (is TF32 the cause?)."""
    seqs = real_sequences(plan.users, plan.steps)
    rows = _cuda_parity_rows(seqs, {})
    passed = all(r["pass"] for r in rows)
    if not passed:
        try:
            rows += _cuda_parity_rows(seqs, {"use_tf32": "0"})
        except Exception as exc:  # an option this build does not know: keep the first rows
            rows.append({"compare": "CUDA vs CPU, use_tf32=0", "error": repr(exc)})
    return {"rows": rows, "pass": passed}


def _cuda_parity_rows(seqs: dict[str, np.ndarray], options: dict[str, str]) -> list[dict[str, Any]]:
    users = int(seqs[INPUT_EVENT_TYPE].shape[0])
    label = ", ".join(f"{k}={v}" for k, v in options.items()) or "default options"
    rows = []
    for graph, path, run in (
        ("step", DEFAULT_MODEL_PATH, step_outputs),
        ("sequence", DEFAULT_SEQUENCE_MODEL_PATH, sequence_outputs),
    ):
        cpu, gpu = cuda.open_session(path, CPU), cuda.open_session(path, CUDA, options)
        cuda.require_cuda(gpu)
        hidden = hidden_size(cpu)
        a, b = run(gpu, seqs, hidden), run(cpu, seqs, hidden)
        rows.append(parity_entry(f"CUDA vs CPU, {graph} graph, {label}", a, b, users))
    return rows


def cuda_throughput(plan: Plan, res: dict[str, Any]) -> dict[str, Any]:
    """CUDA step throughput against batch size: plain run, the worker's IOBinding, device loop."""
    session = cuda.open_session(DEFAULT_MODEL_PATH, CUDA)
    cuda.require_cuda(session)
    modes: dict[str, CallFactory] = {
        "cuda run (numpy in/out)": cuda.plain_call,
        "cuda IOBinding, host state (worker)": cuda.host_binding_call,
        "cuda IOBinding, state on device": cuda.device_loop_call,
    }
    return {"rows": throughput(session, modes, plan.batches, plan.seconds)}


def worker_cuda_vs_cpu(plan: Plan, res: dict[str, Any]) -> dict[str, Any]:
    """The full worker (c) with DECAY_MODEL_PREFER_CUDA true vs false, alternating, one broker."""
    messages, users, max_ts = build_messages(plan.events)
    runs: dict[str, list[dict[str, Any]]] = {"cuda": [], "cpu": []}
    with local_broker("decay-gpu-") as (bootstrap, tmp):
        for r in range(plan.runs):
            for name in ("cuda", "cpu") if r % 2 == 0 else ("cpu", "cuda"):
                env = {"DECAY_MODEL_PREFER_CUDA": "true" if name == "cuda" else "false"}
                w = run_worker(bootstrap, plan.events, tmp, f"{name}{r}", messages, max_ts, env)
                runs[name].append(w)
                log(f"(c) worker on {name}, run {r}: {w['eps']:.0f} ev/s, on CUDA {w['on_cuda']}")
    served = all(w["on_cuda"] == 1.0 for w in runs["cuda"])
    return {"events": plan.events, "users": users, "runs": runs, "cuda_served": served}


# --------------------------------------------------------------------------- main
Part = Callable[[Plan, dict[str, Any]], dict[str, Any]]
CPU_PARTS: tuple[tuple[str, Part], ...] = (
    ("cpu_parity", cpu_parity),
    ("cpu_throughput", cpu_throughput),
)
GPU_PARTS: tuple[tuple[str, Part], ...] = (
    ("cuda_session", cuda_session),
    ("cuda_parity", cuda_parity),
    ("cuda_throughput", cuda_throughput),
    ("worker", worker_cuda_vs_cpu),
)


def run_part(name: str, part: Part, plan: Plan, res: dict[str, Any]) -> None:
    """Run one part; its error is recorded, not raised."""
    log(f"gpu-check: {name}")
    start = time.perf_counter()
    try:
        res["parts"][name] = part(plan, res)
    except Exception as exc:
        res["parts"][name] = {"error": repr(exc), "traceback": traceback.format_exc(limit=5)}
        log(f"gpu-check: {name} failed: {exc!r}")
    res["parts"][name]["seconds"] = round(time.perf_counter() - start, 2)


def failed_parts(res: dict[str, Any]) -> list[str]:
    """Parts that raised, or whose parity or CUDA-serving check failed."""
    return [
        name
        for name, part in res["parts"].items()
        if "error" in part or part.get("pass") is False or part.get("cuda_served") is False
    ]


def prepare_gpu(args: argparse.Namespace, res: dict[str, Any]) -> None:
    """Install (with --install) and load the CUDA/cuDNN wheels."""
    if args.install:
        res["install"] = cuda.install_gpu_wheels()
        log(res["install"])
    try:
        res["preload"] = cuda.preload_cuda_libraries()
    except Exception as exc:
        res["preload"] = f"preload_dlls() failed: {exc!r}"
    log(res["preload"])


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command line of the GPU check."""
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--install", action="store_true", help="pip-install the [gpu] extra first")
    p.add_argument("--quick", action="store_true", help="small sizes (tests, smoke runs)")
    p.add_argument("--out", type=Path, default=RESULTS)
    names = ",".join(name for name, _ in CPU_PARTS + GPU_PARTS)
    p.add_argument("--parts", help=f"comma list of {names} (default: what the machine allows)")
    return p.parse_args(argv)


def selected_parts(args: argparse.Namespace, gpu: bool) -> tuple[tuple[str, Part], ...]:
    """The parts to run: --parts, else the CPU part and, with a GPU, the CUDA part."""
    every = CPU_PARTS + GPU_PARTS
    if args.parts:
        wanted = set(args.parts.split(","))
        return tuple((name, part) for name, part in every if name in wanted)
    return every if gpu else CPU_PARTS


def main(argv: list[str] | None = None) -> int:
    """Run the parts that this machine allows and write gpu.{json,md}."""
    args = parse_args(argv)
    plan = QUICK if args.quick else FULL
    gpu, why = cuda.detect_gpu()
    res: dict[str, Any] = {"machine": machine(), "gpu": gpu, "quick": args.quick, "parts": {}}
    if gpu is None:
        res["machine"]["gpu"] = f"none ({why})"
        print(f"no GPU: {why}; CUDA part skipped (nothing installed), CPU part only", flush=True)
    else:
        res["machine"]["gpu"] = (
            f"{gpu['name']}, {gpu['memory_gib']} GiB, driver CUDA {gpu['driver_cuda_version']}"
        )
        log(f"GPU: {res['machine']['gpu']}")
        prepare_gpu(args, res)
    for name, part in selected_parts(args, gpu is not None):
        run_part(name, part, plan, res)
        write_gpu_results(res, args.out)
    res["failed"] = failed_parts(res)
    write_gpu_results(res, args.out)
    log(f"wrote {args.out / 'gpu.json'} and gpu.md; failed: {res['failed'] or 'none'}")
    return 1 if res["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
