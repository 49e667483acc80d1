"""Benchmark harness: broker, topics, load generation, process control and measurement.

The systems under test (bench/systems.py) and the reports (bench/report.py) build on this;
nothing here knows which system it measures.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import re
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from stream_app.commands.replay import encode_event
from stream_app.data.sources import load_events
from stream_app.kafka.clients import ensure_topic, new_producer
from stream_app.kafka.local import LocalKafka, free_port
from stream_app.kafka.local_config import kafka_version
from stream_app.paths import REPO_ROOT
from stream_app.settings import Settings
from stream_app.topology import topic_specs

ROOT = REPO_ROOT
RESULTS = Path(__file__).resolve().parent / "results"
PARTITIONS = 8
USER_SHIFT = 100_000_000  # Taobao user ids are < 1e7: repeat k adds k * 1e8

Message = tuple[bytes, bytes]


def log(msg: str) -> None:
    """One timestamped progress line on stdout."""
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# --------------------------------------------------------------------------- load
def build_messages(n: int) -> tuple[list[Message], int, float]:
    """N (key, value) pairs of real Taobao events, repeated with shifted user ids."""
    base = list(load_events("taobao-slice"))
    out: list[Message] = []
    users: set[str] = set()
    rep = 0
    while len(out) < n:
        for event in base[: n - len(out)]:
            shifted = replace(
                event,
                user_id=str(int(event.user_id) + rep * USER_SHIFT),
                event_id=f"{event.event_id}-r{rep}" if event.event_id else None,
            )
            users.add(shifted.user_id)
            out.append(encode_event(shifted))
        rep += 1
    return out, len(users), max(e.ts_seconds for e in base)


def produce(bootstrap: str, topic: str, messages: list[Message]) -> None:
    """Create `topic` (PARTITIONS partitions) and write `messages` to it, flushed."""
    ensure_topic(bootstrap, topic, PARTITIONS)
    producer = new_producer(bootstrap)
    try:
        for key, value in messages:
            producer.send(topic, key=key, value=value)
        producer.flush()
    finally:
        producer.close()


def produce_paced(bootstrap: str, topic: str, messages: list[Message], rate: float) -> float:
    """Write `messages` at `rate` events/s; returns the seconds it took.

    The pace starts once the producer has the topic's metadata: otherwise its first send waits
    for it and the events due meanwhile go out as one burst, stamped before the wait ended."""
    producer = new_producer(bootstrap)
    producer.partitions_for(topic)
    start = time.perf_counter()
    try:
        for i, (key, value) in enumerate(messages):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            producer.send(topic, key=key, value=value)
        producer.flush()
    finally:
        producer.close()
    return time.perf_counter() - start


# --------------------------------------------------------------------------- broker
@contextmanager
def local_broker(prefix: str = "decay-bench-") -> Iterator[tuple[str, Path]]:
    """A local Kafka broker in a temporary directory: yields (bootstrap, that directory)."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmpname:
        tmp = Path(tmpname)
        kafka = LocalKafka(data_dir=tmp / "kafka").start()
        try:
            log(f"broker at {kafka.bootstrap_servers}")
            yield kafka.bootstrap_servers, tmp
        finally:
            kafka.stop()


def worker_settings(bootstrap: str, tag: str, tmp: Path, max_ts: float) -> Settings:
    """Settings of a benchmark worker with its own topics, group and port (CPU model)."""
    return Settings(
        bootstrap_servers=bootstrap,
        app_id=f"bench-worker-{tag}",
        events_topic=f"bench.{tag}.events",
        dead_letter_topic=f"bench.{tag}.dlq",
        alerts_topic=f"bench.{tag}.alerts",
        actions_topic=f"bench.{tag}.actions",
        ticks_topic=f"bench.{tag}.ticks",
        partitions=PARTITIONS,
        data_dir=tmp / f"worker-{tag}",
        model_prefer_cuda=False,
        http_port=free_port(),
        http_host="127.0.0.1",
        log_level="WARNING",
        # Simulated clock starts at the end of the data, so users are not 9 years silent.
        clock_start_seconds=max_ts,
        clock_anchor_seconds=time.time(),
    )


def create_worker_topics(s: Settings) -> None:
    """The topics the worker expects to exist, with their configs from stream_app.topology."""
    for topic, config in topic_specs(s).items():
        ensure_topic(s.bootstrap_servers or "", topic, s.partitions, config)


# --------------------------------------------------------------------------- processes
def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL after 20 s."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_ready(port: int, proc: subprocess.Popen[bytes], timeout: float = 120.0) -> None:
    """Block until the worker's /health/ready answers 200."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"worker exited {proc.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/ready", timeout=2):
                return
        except Exception:
            time.sleep(0.3)
    raise TimeoutError("worker not ready")


def vm_rss(pid: int) -> int:
    """Resident set size of `pid` in bytes (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


# --------------------------------------------------------------------------- metrics
def parse_metrics(text: str) -> dict[str, float]:
    """Prometheus text → {sample name: value summed over its label sets}, and each labelled
    sample under `name{k="v",…}` (labels sorted)."""
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[sample.name] = out.get(sample.name, 0.0) + float(sample.value)
            if sample.labels:
                labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
                out[f"{sample.name}{{{labels}}}"] = float(sample.value)
    return out


def scrape(port: int) -> dict[str, float]:
    """The worker's /metrics, parsed by `parse_metrics`."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as resp:
        return parse_metrics(resp.read().decode())


def metric(m: dict[str, float], name: str) -> float:
    """A sample's value (summed over labels), 0 when absent."""
    return m.get(name, 0.0)


# --------------------------------------------------------------------------- machine
def machine() -> dict[str, Any]:
    """What the numbers were measured on: CPU, memory, versions, GPU."""
    mem = re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text())
    return {
        "date_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "nproc": os.cpu_count(),
        "cpu": cpu_model(),
        "ram_gib": round(int(mem.group(1)) / 2**20, 1) if mem else None,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "kafka_broker": kafka_version(),
        "aiokafka": version("aiokafka"),
        "faust_streaming": version("faust-streaming"),
        "kafka_python": version("kafka-python"),
        "onnxruntime": onnxruntime_version(),
        "gpu": "none (no GPU on this machine; CUDA/IOBinding microbench not run)",
        "note": "shared machine: other workloads may run concurrently",
    }


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo."""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "?"


def onnxruntime_version() -> str:
    """Version of the installed ONNX Runtime distribution (GPU build first)."""
    for dist in ("onnxruntime-gpu", "onnxruntime"):
        try:
            return version(dist)
        except PackageNotFoundError:
            continue
    return "?"
