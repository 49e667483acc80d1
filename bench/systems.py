"""The systems under test: (a) raw aiokafka + JSON decode, (b) a bare Faust agent with one table
update per event, (c) the full worker, (d) the quixstreams peer, and the worker's scale-out in
one consumer group. The worker under paced load is in `bench.latency`, the model step graph
alone in `bench.model_step`.

Each `run_*` returns a flat dict of numbers (`eps` = events per second).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from bench.harness import (
    PARTITIONS,
    ROOT,
    Message,
    create_worker_topics,
    metric,
    produce,
    scrape,
    stop,
    vm_rss,
    wait_ready,
    worker_settings,
)
from stream_app.commands.processes import spawn_worker
from stream_app.kafka.local import free_port
from stream_app.kafka.reading import wait_caught_up
from stream_app.model.runtime import CUDA

USERS_GAUGE_REFRESH_SECONDS = 5.5  # decay_users_tracked is refreshed every 5 s


# --------------------------------------------------------------------------- (a) raw aiokafka
async def _raw_consume(bootstrap: str, topic: str, n: int) -> dict[str, float]:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        seen, first, checksum = 0, None, 0
        while seen < n:
            batches = await consumer.getmany(timeout_ms=1000, max_records=10_000)
            for records in batches.values():
                if first is None and records:
                    first = time.perf_counter()
                for record in records:
                    checksum += len(json.loads(record.value))
                    seen += 1
        last = time.perf_counter()
    finally:
        await consumer.stop()
    assert first is not None
    return {"seconds": last - first, "events": seen, "eps": seen / (last - first)}


def run_raw(bootstrap: str, topic: str, n: int) -> dict[str, float]:
    """(a): assign all partitions, read from the start, decode every value."""
    return asyncio.run(_raw_consume(bootstrap, topic, n))


# --------------------------------------------------------------------------- (b) bare Faust
def bare_env(bootstrap: str, app_id: str, topic: str, datadir: Path) -> dict[str, str]:
    """Environment of bench/bare_app.py."""
    return {
        **os.environ,
        "BENCH_BOOTSTRAP": bootstrap,
        "BENCH_APP_ID": app_id,
        "BENCH_TOPIC": topic,
        "BENCH_PARTITIONS": str(PARTITIONS),
        "BENCH_DATADIR": str(datadir),
    }


BARE_ARGV = ("-m", "bench.bare_app", "worker", "-l", "warn")
QUIX_ARGV = ("-m", "bench.quix_app")


def spawn_bare(
    env: dict[str, str], log_path: Path | None = None, argv: tuple[str, ...] = BARE_ARGV
) -> subprocess.Popen[bytes]:
    """Start bench/bare_app.py (or `argv`, e.g. the quixstreams peer) in its own session."""
    out = log_path.open("ab") if log_path else None
    try:
        return subprocess.Popen(
            [sys.executable, *argv],
            cwd=ROOT,
            env=env,
            stdout=out if out else subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    finally:
        if out:
            out.close()


def run_bare(
    bootstrap: str,
    topic: str,
    n: int,
    tmp: Path,
    tag: str,
    extra_env: dict[str, str] | None = None,
    argv: tuple[str, ...] = BARE_ARGV,
    name: str = "bare",
) -> dict[str, float]:
    """(b): the bare app drains `topic`; it writes its first/last event times to a file."""
    result = tmp / f"{name}-{tag}.json"
    env = {
        **bare_env(bootstrap, f"bench-{name}-{tag}", topic, tmp / f"{name}-data-{tag}"),
        **(extra_env or {}),
        "BENCH_EXPECT": str(n),
        "BENCH_RESULT": str(result),
    }
    log_path = tmp / f"{name}-{tag}.log"
    proc = spawn_bare(env, log_path, argv)
    try:
        deadline = time.monotonic() + max(120.0, n / 200)
        while not result.exists():
            if proc.poll() is not None:
                raise RuntimeError(f"{name} app exited {proc.returncode}, see {log_path}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{name} app did not finish")
            time.sleep(0.2)
        time.sleep(0.1)
        data = json.loads(result.read_text())
        secs = data["last"] - data["first"]
        return {"seconds": secs, "events": n, "eps": n / secs}
    finally:
        stop(proc)


# --------------------------------------------------------------------------- (d) quixstreams
def run_quix(bootstrap: str, topic: str, n: int, tmp: Path, tag: str) -> dict[str, float]:
    """(d): bench/quix_app.py, (b)'s work on quixstreams (RocksDB state, changelog), drains
    `topic`; timed like (b) from its own first/last event times."""
    return run_bare(bootstrap, topic, n, tmp, tag, argv=QUIX_ARGV, name="quix")


# --------------------------------------------------------------------------- (c) full worker
def wait_consumed(
    proc: subprocess.Popen[bytes], port: int, n: int, timeout: float
) -> tuple[float, float]:
    """Poll /metrics until the worker has consumed `n` events: (first, last) wall times."""
    return wait_group_consumed([proc], [port], n, timeout)


def worker_result(m: dict[str, float], n: int, first: float, last: float) -> dict[str, float]:
    """Throughput, batch sizes and counters of one worker run from its final metrics."""
    bs_cnt = m.get("decay_model_batch_size_count", 0.0)
    secs = last - first
    return {
        "seconds": secs,
        "events": n,
        "eps": n / secs,
        "batch_size_mean": m.get("decay_model_batch_size_sum", 0.0) / bs_cnt
        if bs_cnt
        else float("nan"),
        "batch_count": bs_cnt,
        "model_step_ms_mean": 1e3 * m.get("decay_model_step_seconds_sum", 0.0) / bs_cnt
        if bs_cnt
        else float("nan"),
        "users_tracked": metric(m, "decay_users_tracked"),
        "process_resident_memory_bytes": m.get("process_resident_memory_bytes", 0.0),
        "rejected": metric(m, "decay_events_rejected_total"),
        "duplicates": metric(m, "decay_events_duplicate_total"),
        "alerts": metric(m, "decay_alerts_total"),
        "on_cuda": m.get(f'decay_model_provider{{provider="{CUDA}"}}', 0.0),
        "gpu_fallback": metric(m, "decay_model_gpu_fallback"),
    }


def run_worker(
    bootstrap: str,
    n: int,
    tmp: Path,
    tag: str,
    messages: list[Message],
    max_ts: float,
    env: dict[str, str] | None = None,
) -> dict[str, float]:
    """(c): pre-produce `messages`, start a worker, time it until all are consumed."""
    s = worker_settings(bootstrap, tag, tmp, max_ts)
    create_worker_topics(s)
    produce(bootstrap, s.events_topic, messages)
    proc = spawn_worker(s, env=env, log_path=tmp / f"worker-{tag}.log")
    try:
        first, last = wait_consumed(proc, s.http_port, n, max(180.0, n / 100))
        cpu_seconds = proc_cpu_seconds(proc.pid) - CPU_AT_FIRST_EVENT[0]
        wait_caught_up(bootstrap, s.app_id, s.events_topic, timeout_seconds=120)
        caught_up = time.time()
        time.sleep(USERS_GAUGE_REFRESH_SECONDS)
        result = worker_result(scrape(s.http_port), n, first, last)
        result["rss_bytes"] = vm_rss(proc.pid)
        result["caught_up_seconds"] = caught_up - first
        result["cpu_us_per_event"] = 1e6 * cpu_seconds / n
        return result
    finally:
        stop(proc)


# --------------------------------------------------------------------------- scale-out
def run_group(
    bootstrap: str,
    tmp: Path,
    tag: str,
    messages: list[Message],
    max_ts: float,
    workers: int,
    settle_seconds: float = 5.0,
) -> dict[str, float]:
    """`workers` worker processes in one consumer group on one topic: aggregate events/s.

    The workers start on the empty topic and are ready (partitions assigned, tables
    recovered, one rebalance settled) before the events are produced, so the time from the
    first consumed event to the last excludes start-up and the joining rebalance for any
    group size; the producer writes far faster than the workers consume.
    """
    n = len(messages)
    base = worker_settings(bootstrap, tag, tmp, max_ts)
    create_worker_topics(base)
    group = [
        base.model_copy(update={"http_port": free_port(), "data_dir": tmp / f"worker-{tag}-{i}"})
        for i in range(workers)
    ]
    procs = [spawn_worker(s, log_path=tmp / f"worker-{tag}-{i}.log") for i, s in enumerate(group)]
    try:
        for s, proc in zip(group, procs, strict=True):
            wait_ready(s.http_port, proc)
        time.sleep(settle_seconds)
        produce(bootstrap, base.events_topic, messages)
        first, last = wait_group_consumed(
            procs, [s.http_port for s in group], n, max(180.0, n / 50)
        )
        per_worker = [metric(scrape(s.http_port), "decay_events_consumed_total") for s in group]
    finally:
        for proc in procs:
            stop(proc)
    return {
        "workers": workers,
        "seconds": last - first,
        "events": n,
        "eps": n / (last - first),
        "per_worker_events_min": min(per_worker),
        "per_worker_events_max": max(per_worker),
    }


#: Each worker's CPU seconds (user + system) when the last `wait_group_consumed` saw the first
#: event consumed: CPU per event is measured from there, start-up left out.
CPU_AT_FIRST_EVENT: list[float] = []


def proc_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_group_consumed(
    procs: list[subprocess.Popen[bytes]], ports: list[int], n: int, timeout: float
) -> tuple[float, float]:
    """Poll every worker's /metrics until together they consumed `n` events: (first, last)."""
    first: float | None = None
    deadline = time.monotonic() + timeout
    total = 0.0
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in procs):
            raise RuntimeError("a worker of the group exited")
        try:
            total = sum(metric(scrape(port), "decay_events_consumed_total") for port in ports)
        except Exception:
            time.sleep(0.2)
            continue
        now = time.time()
        if total > 0 and first is None:
            first = now
            CPU_AT_FIRST_EVENT[:] = [proc_cpu_seconds(p.pid) for p in procs]
        if first is not None and total >= n:
            return first, now
        time.sleep(0.1)
    raise TimeoutError(f"the group consumed {total} of {n}")
