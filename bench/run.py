"""Issue 7 benchmark: raw aiokafka vs bare Faust vs the full worker, plus model microbench.

    .venv/bin/python -m bench.run [--events N] [--runs R]

One local broker (temp dir), a fresh 8-partition topic per measured run (every consumer starts
at offset 0), N real Taobao-slice events repeated with shifted user ids. Writes
bench/results/latest.json and bench/results/latest.md.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import replace
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np

from stream_app.commands.processes import spawn_worker
from stream_app.commands.replay import encode_event
from stream_app.data.sources import load_events
from stream_app.kafka.clients import ensure_topic, new_producer, read_topic, wait_caught_up
from stream_app.kafka.local import LocalKafka, free_port, kafka_version
from stream_app.paths import DEFAULT_MODEL_PATH
from stream_app.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
PARTITIONS = 8
USER_SHIFT = 100_000_000  # Taobao user ids are < 1e7: repeat k adds k * 1e8


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# --------------------------------------------------------------------------- data
def build_messages(n: int) -> tuple[list[tuple[bytes, bytes]], int, float]:
    """N (key, value) pairs; returns also the number of distinct users and the max event ts."""
    base = list(load_events("taobao-slice"))
    out: list[tuple[bytes, bytes]] = []
    users: set[str] = set()
    rep = 0
    while len(out) < n:
        for event in base:
            if len(out) >= n:
                break
            shifted = replace(
                event,
                user_id=str(int(event.user_id) + rep * USER_SHIFT),
                event_id=f"{event.event_id}-r{rep}" if event.event_id else None,
            )
            users.add(shifted.user_id)
            out.append(encode_event(shifted))
        rep += 1
    max_ts = max(e.ts_seconds for e in base)
    return out, len(users), max_ts


def produce(bootstrap: str, topic: str, messages: list[tuple[bytes, bytes]]) -> None:
    ensure_topic(bootstrap, topic, PARTITIONS)
    producer = new_producer(bootstrap)
    try:
        for key, value in messages:
            producer.send(topic, key=key, value=value)
        producer.flush()
    finally:
        producer.close()


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
        seen = 0
        first = None
        checksum = 0
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
    return asyncio.run(_raw_consume(bootstrap, topic, n))


# --------------------------------------------------------------------------- (b) bare Faust
def run_bare(
    bootstrap: str, topic: str, n: int, tmp: Path, tag: str, extra_env: dict[str, str] | None = None
) -> dict[str, float]:
    result = tmp / f"bare-{tag}.json"
    env = {
        **os.environ,
        **(extra_env or {}),
        "BENCH_BOOTSTRAP": bootstrap,
        "BENCH_APP_ID": f"bench-bare-{tag}",
        "BENCH_TOPIC": topic,
        "BENCH_PARTITIONS": str(PARTITIONS),
        "BENCH_EXPECT": str(n),
        "BENCH_RESULT": str(result),
        "BENCH_DATADIR": str(tmp / f"bare-data-{tag}"),
    }
    logf = (tmp / f"bare-{tag}.log").open("ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.bare_app", "worker", "-l", "warn"],
        cwd=ROOT,
        env=env,
        stdout=logf,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + max(120.0, n / 200)
        while not result.exists():
            if proc.poll() is not None:
                raise RuntimeError(f"bare app exited {proc.returncode}, see {logf.name}")
            if time.monotonic() > deadline:
                raise TimeoutError("bare app did not finish")
            time.sleep(0.2)
        time.sleep(0.1)
        data = json.loads(result.read_text())
        secs = data["last"] - data["first"]
        return {"seconds": secs, "events": n, "eps": n / secs}
    finally:
        stop(proc)
        logf.close()


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# --------------------------------------------------------------------------- (c) full worker
def worker_settings(bootstrap: str, tag: str, tmp: Path, max_ts: float) -> Settings:
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
    large = {"max.message.bytes": str(s.dead_letter_max_bytes)}
    for topic, cfg in (
        (s.events_topic, {}),
        (s.dead_letter_topic, large),
        (s.alerts_topic, {}),
        (s.actions_topic, {}),
        (s.ticks_topic, {}),
    ):
        ensure_topic(s.bootstrap_servers or "", topic, s.partitions, cfg)


def scrape(port: int) -> dict[str, float]:
    """Prometheus text → {name{labels}: value}, plus summed totals by bare name."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as resp:
        text = resp.read().decode()
    out: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name_labels, _, value = line.rpartition(" ")
        try:
            v = float(value)
        except ValueError:
            continue
        out[name_labels] = v
        bare = name_labels.split("{", 1)[0]
        if "{" in name_labels:
            out[bare + ":sum"] = out.get(bare + ":sum", 0.0) + v
    return out


def metric(m: dict[str, float], name: str) -> float:
    return m.get(name, m.get(name + ":sum", 0.0))


def wait_ready(port: int, proc: subprocess.Popen[bytes], timeout: float = 120.0) -> None:
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
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def run_worker(
    bootstrap: str,
    n: int,
    tmp: Path,
    tag: str,
    messages: list[tuple[bytes, bytes]],
    max_ts: float,
    env: dict[str, str] | None = None,
) -> dict[str, float]:
    s = worker_settings(bootstrap, tag, tmp, max_ts)
    create_worker_topics(s)
    produce(bootstrap, s.events_topic, messages)
    proc = spawn_worker(s, env=env, log_path=tmp / f"worker-{tag}.log")
    try:
        port = s.http_port
        first = last = None
        deadline = time.monotonic() + max(180.0, n / 100)
        consumed = 0.0
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"worker exited {proc.returncode}, see worker-{tag}.log")
            try:
                m = scrape(port)
            except Exception:
                time.sleep(0.2)
                continue
            consumed = metric(m, "decay_events_consumed_total")
            now = time.time()
            if consumed > 0 and first is None:
                first = now
            if consumed >= n:
                last = now
                break
            time.sleep(0.1)
        if first is None or last is None:
            raise TimeoutError(f"worker consumed {consumed} of {n}")
        wait_caught_up(bootstrap, s.app_id, s.events_topic, timeout_seconds=120)
        caught_up = time.time()
        time.sleep(5.5)  # users_tracked gauge refreshes every 5 s
        m = scrape(port)
        rss = vm_rss(proc.pid)
        bs_sum = m.get("decay_model_batch_size_sum", 0.0)
        bs_cnt = m.get("decay_model_batch_size_count", 0.0)
        secs = last - first
        return {
            "seconds": secs,
            "events": n,
            "eps": n / secs,
            "caught_up_seconds": caught_up - first,
            "batch_size_mean": bs_sum / bs_cnt if bs_cnt else float("nan"),
            "batch_count": bs_cnt,
            "users_tracked": metric(m, "decay_users_tracked"),
            "rss_bytes": rss,
            "process_resident_memory_bytes": m.get("process_resident_memory_bytes", 0.0),
            "rejected": metric(m, "decay_events_rejected_total"),
            "duplicates": metric(m, "decay_events_duplicate_total"),
            "alerts": metric(m, "decay_alerts_total"),
        }
    finally:
        stop(proc)


# --------------------------------------------------------------------------- latency
def run_latency(
    bootstrap: str, tmp: Path, messages: list[tuple[bytes, bytes]], rate: float, max_ts: float
) -> dict[str, Any]:
    """Paced produce at `rate` ev/s into a running worker; latency = changelog record timestamp
    (CreateTime, stamped by the worker's producer when the table write is sent) minus the event's
    CreateTime (stamped by our producer at send). Event k of a user is matched to the first
    changelog record of that user whose events_total >= k. Also memory: RSS before/after."""
    from stream_app.state.user_state import decode_state

    s = worker_settings(bootstrap, "latency", tmp, max_ts)
    create_worker_topics(s)
    proc = spawn_worker(s, log_path=tmp / "worker-latency.log")
    try:
        wait_ready(s.http_port, proc)
        time.sleep(2.0)
        rss_before = vm_rss(proc.pid)
        producer = new_producer(bootstrap)
        start = time.perf_counter()
        for i, (key, value) in enumerate(messages):
            due = start + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            producer.send(s.events_topic, key=key, value=value)
        producer.flush()
        producer.close()
        produce_secs = time.perf_counter() - start
        wait_caught_up(bootstrap, s.app_id, s.events_topic, timeout_seconds=180)
        time.sleep(5.5)
        m = scrape(s.http_port)
        rss_after = vm_rss(proc.pid)
        users = metric(m, "decay_users_tracked")
    finally:
        stop(proc)
    produced: dict[bytes, list[int]] = {}
    for rec in read_topic(bootstrap, s.events_topic, timeout_seconds=60):
        produced.setdefault(rec.key or b"", []).append(rec.timestamp_ms)
    changelog = f"{s.app_id}-user-state-changelog"
    writes: dict[bytes, list[tuple[int, int]]] = {}
    for rec in read_topic(bootstrap, changelog, timeout_seconds=60):
        if rec.value is None:
            continue
        writes.setdefault(rec.key or b"", []).append(
            (rec.offset, decode_state(rec.value).events_total, rec.timestamp_ms)
        )
    lat: list[float] = []
    unmatched = 0
    for key, stamps in produced.items():
        w = sorted(writes.get(key, []))
        j = 0
        for k, ts in enumerate(stamps, start=1):
            while j < len(w) and w[j][1] < k:
                j += 1
            if j == len(w):
                unmatched += 1
                continue
            lat.append((w[j][2] - ts) / 1000.0)
    arr = np.array(lat) if lat else np.array([float("nan")])
    return {
        "rate_target_eps": rate,
        "events": len(messages),
        "rate_achieved_eps": len(messages) / produce_secs,
        "latency_p50_s": float(np.percentile(arr, 50)),
        "latency_p99_s": float(np.percentile(arr, 99)),
        "latency_max_s": float(np.max(arr)),
        "matched": len(lat),
        "unmatched": unmatched,
        "rss_before_bytes": rss_before,
        "rss_after_bytes": rss_after,
        "users_tracked": users,
    }


# --------------------------------------------------------------------------- model micro
def model_micro(
    sizes: tuple[int, ...] = (1, 8, 64, 512, 2048), seconds: float = 1.0
) -> list[dict[str, Any]]:
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
        for _ in range(3):
            rt.step(et, cat, num, h, c)
        times = []
        t_end = time.perf_counter() + seconds
        while time.perf_counter() < t_end or len(times) < 5:
            t0 = time.perf_counter()
            rt.step(et, cat, num, h, c)
            times.append(time.perf_counter() - t0)
        med = statistics.median(times)
        out.append(
            {
                "batch": b,
                "provider": rt.provider,
                "step_ms_median": med * 1e3,
                "events_per_s": b / med,
                "iterations": len(times),
            }
        )
    return out


# --------------------------------------------------------------------------- machine
def machine() -> dict[str, Any]:
    cpu = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text())
    return {
        "date_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "ram_gib": round(int(mem.group(1)) / 2**20, 1) if mem else None,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "kafka_broker": kafka_version(),
        "aiokafka": version("aiokafka"),
        "faust_streaming": version("faust-streaming"),
        "kafka_python": version("kafka-python"),
        "onnxruntime": version("onnxruntime-gpu")
        if _has("onnxruntime-gpu")
        else version("onnxruntime"),
        "gpu": "none (no GPU on this machine; CUDA/IOBinding microbench not run)",
        "note": "shared machine: other workloads may run concurrently",
    }


def _has(dist: str) -> bool:
    try:
        version(dist)
        return True
    except Exception:
        return False


# --------------------------------------------------------------------------- report
def med(runs: list[dict[str, float]], key: str = "eps") -> float:
    return statistics.median(r[key] for r in runs)


def markdown(res: dict[str, Any]) -> str:
    m, s = res["machine"], res["summary"]
    lines = [
        f"# decay-stream benchmark ({m['date_utc']})",
        "",
        f"Machine: {m['nproc']} cores, {m['cpu']}, {m['ram_gib']} GiB RAM, kernel {m['kernel']}; "
        f"Python {m['python']}, Kafka {m['kafka_broker']} (local KRaft broker, same machine), "
        f"aiokafka {m['aiokafka']}, faust-streaming {m['faust_streaming']}, "
        f"onnxruntime {m['onnxruntime']}. GPU: {m['gpu']}. {m['note']}.",
        "",
        f"N = {res['events']} events ({res['users']} users), {PARTITIONS} partitions, "
        f"{res['runs']} runs each, medians.",
        "",
        "| system | events/s (median) | runs (events/s) |",
        "|---|---:|---|",
    ]
    for key, label in (
        ("raw", "(a) raw aiokafka + JSON decode"),
        ("bare", "(b) bare Faust agent + 1 table update"),
        ("worker", "(c) full worker (CPU)"),
    ):
        runs = ", ".join(f"{r['eps']:.0f}" for r in res[key])
        lines.append(f"| {label} | {s[key + '_eps']:.0f} | {runs} |")
    lines += [
        "",
        "| metric | value | target |",
        "|---|---:|---|",
        f"| c/a | {s['c_over_a']:.3f} | ≥ 0.25 {'met' if s['c_over_a'] >= 0.25 else 'NOT met'} |",
        f"| c/b | {s['c_over_b']:.3f} | ≥ 1.0 {'met' if s['c_over_b'] >= 1.0 else 'NOT met'} |",
        f"| mean model batch size (c) | {s['batch_size_mean']:.1f} | |",
        f"| worker caught-up time, median (s) | {s['worker_caught_up_s']:.1f} | |",
    ]
    lat = res.get("latency")
    if lat:
        lines += [
            f"| latency run: target / achieved rate (ev/s) | {lat['rate_target_eps']:.0f} / "
            f"{lat['rate_achieved_eps']:.0f} | ½ of (c) |",
            f"| event→state latency p50 (s) | {lat['latency_p50_s']:.3f} | |",
            f"| event→state latency p99 (s) | {lat['latency_p99_s']:.3f} | |",
            f"| matched / unmatched events | {lat['matched']} / {lat['unmatched']} | |",
        ]
    lines += [
        f"| worker RSS after run (MiB) | {s['rss_mib']:.0f} | |",
        f"| RSS per 1M users, total (GiB) | {s['rss_per_million_users_gib']:.2f} | |",
        f"| RSS per 1M users, marginal (GiB) | {s.get('marginal_rss_per_million_users_gib', float('nan')):.2f} | |",
        "",
        "Model step graph, CPU, 1 intra-op thread (ModelRuntime.step, median):",
        "",
        "| batch | provider | ms/step | events/s |",
        "|---:|---|---:|---:|",
    ]
    for r in res["model_micro"]:
        lines.append(
            f"| {r['batch']} | {r['provider']} | {r['step_ms_median']:.3f} | "
            f"{r['events_per_s']:.0f} |"
        )
    lines += ["", "CUDA provider with IOBinding: not measured (no GPU in this session).", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=200_000)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument(
        "--latency-seconds", type=float, default=20.0, help="length of the paced latency run"
    )
    p.add_argument("--skip-latency", action="store_true")
    p.add_argument(
        "--systems",
        default="raw,bare,worker",
        help="comma list of raw,bare,worker (experiments: measure a subset)",
    )
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    n = args.events
    log(f"building {n} events")
    messages, users, max_ts = build_messages(n)
    res: dict[str, Any] = {
        "events": n,
        "users": users,
        "runs": args.runs,
        "machine": machine(),
        "raw": [],
        "bare": [],
        "worker": [],
    }
    with tempfile.TemporaryDirectory(prefix="decay-bench-") as tmpname:
        tmp = Path(tmpname)
        kafka = LocalKafka(data_dir=tmp / "kafka").start()
        bootstrap = kafka.bootstrap_servers
        log(f"broker at {bootstrap}")
        try:
            systems = set(args.systems.split(","))
            for r in range(args.runs):
                if "raw" in systems:
                    topic = f"bench.raw.{r}"
                    produce(bootstrap, topic, messages)
                    res["raw"].append(run_raw(bootstrap, topic, n))
                    log(f"(a) raw run {r}: {res['raw'][-1]['eps']:.0f} ev/s")
                if "bare" in systems:
                    topic = f"bench.bare.{r}"
                    produce(bootstrap, topic, messages)
                    res["bare"].append(run_bare(bootstrap, topic, n, tmp, str(r)))
                    log(f"(b) bare run {r}: {res['bare'][-1]['eps']:.0f} ev/s")
                if "worker" not in systems:
                    continue
                res["worker"].append(run_worker(bootstrap, n, tmp, f"w{r}", messages, max_ts))
                w = res["worker"][-1]
                log(f"(c) worker run {r}: {w['eps']:.0f} ev/s, batch {w['batch_size_mean']:.1f}")
            if systems != {"raw", "bare", "worker"}:
                summary = {k: med(res[k]) for k in ("raw", "bare", "worker") if res[k]}
                if res["worker"]:
                    summary["batch_size_mean"] = med(res["worker"], "batch_size_mean")
                res["summary"] = summary
                args.out.mkdir(parents=True, exist_ok=True)
                (args.out / "latest.json").write_text(json.dumps(res, indent=2, default=str))
                log(f"partial run summary (events/s medians): {summary}")
                return 0
            s: dict[str, Any] = {
                "raw_eps": med(res["raw"]),
                "bare_eps": med(res["bare"]),
                "worker_eps": med(res["worker"]),
                "batch_size_mean": med(res["worker"], "batch_size_mean"),
                "worker_caught_up_s": med(res["worker"], "caught_up_seconds"),
                "rss_mib": med(res["worker"], "rss_bytes") / 2**20,
            }
            s["c_over_a"] = s["worker_eps"] / s["raw_eps"]
            s["c_over_b"] = s["worker_eps"] / s["bare_eps"]
            users_tracked = med(res["worker"], "users_tracked") or users
            s["rss_per_million_users_gib"] = (
                med(res["worker"], "rss_bytes") / users_tracked * 1e6 / 2**30
            )
            res["summary"] = s
            if not args.skip_latency:
                rate = s["worker_eps"] / 2
                count = min(n, max(1000, int(rate * args.latency_seconds)))
                log(f"latency run: {count} events at {rate:.0f} ev/s")
                lat = run_latency(bootstrap, tmp, messages[:count], rate, max_ts)
                res["latency"] = lat
                grown = lat["rss_after_bytes"] - lat["rss_before_bytes"]
                if lat["users_tracked"]:
                    s["marginal_rss_per_million_users_gib"] = (
                        grown / lat["users_tracked"] * 1e6 / 2**30
                    )
                log(f"latency p50 {lat['latency_p50_s']:.3f}s p99 {lat['latency_p99_s']:.3f}s")
        finally:
            kafka.stop()
    log("model microbenchmark")
    res["model_micro"] = model_micro()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "latest.json").write_text(json.dumps(res, indent=2, default=str) + "\n")
    md = markdown(res)
    (args.out / "latest.md").write_text(md)
    print(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
