"""The worker under paced load: event→state latency, memory, and the state's size bound."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.harness import (
    Message,
    create_worker_topics,
    metric,
    produce_paced,
    scrape,
    stop,
    vm_rss,
    wait_ready,
    worker_settings,
)
from bench.systems import USERS_GAUGE_REFRESH_SECONDS
from stream_app.commands.processes import spawn_worker
from stream_app.kafka.reading import read_topic, wait_caught_up
from stream_app.paths import DEFAULT_MODEL_PATH
from stream_app.topology import changelog_topic


# --------------------------------------------------------------------------- latency
def run_latency(
    bootstrap: str,
    tmp: Path,
    messages: list[Message],
    rate: float,
    max_ts: float,
    tag: str = "latency",
    env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Paced produce at `rate` ev/s into a running worker: event→state latency and memory.

    Latency = changelog record timestamp (CreateTime, stamped by the worker's producer when the
    table write is sent) minus the event's CreateTime (stamped by our producer at send).
    """
    s = worker_settings(bootstrap, tag, tmp, max_ts)
    create_worker_topics(s)
    proc = spawn_worker(s, env=env, log_path=tmp / f"worker-{tag}.log")
    try:
        wait_ready(s.http_port, proc)
        time.sleep(2.0)
        rss_before = vm_rss(proc.pid)
        produce_secs = produce_paced(bootstrap, s.events_topic, messages, rate)
        wait_caught_up(bootstrap, s.app_id, s.events_topic, timeout_seconds=180)
        time.sleep(USERS_GAUGE_REFRESH_SECONDS)
        users = metric(scrape(s.http_port), "decay_users_tracked")
        rss_after = vm_rss(proc.pid)
    finally:
        stop(proc)
    lat, unmatched = state_latencies(bootstrap, s.events_topic, changelog_topic(s.app_id))
    arr = np.array([x for _, x in lat]) if lat else np.array([float("nan")])
    first = min((sent for sent, _ in lat), default=0.0)
    warm = [x for sent, x in lat if sent >= first + WARM_UP_SECONDS] or [float("nan")]
    return {
        "rate_target_eps": rate,
        "events": len(messages),
        "rate_achieved_eps": len(messages) / produce_secs,
        "latency_p50_s": float(np.percentile(arr, 50)),
        "latency_p99_s": float(np.percentile(arr, 99)),
        "latency_max_s": float(np.max(arr)),
        "latency_p99_after_warm_up_s": float(np.percentile(warm, 99)),
        "warm_up_seconds": WARM_UP_SECONDS,
        "matched": len(lat),
        "unmatched": unmatched,
        "rss_before_bytes": rss_before,
        "rss_after_bytes": rss_after,
        "users_tracked": users,
        "state_bytes_mean": float(np.mean(STATE_SIZES)) if STATE_SIZES else float("nan"),
        "state_bytes_max": max(STATE_SIZES, default=0),
    }


#: The latency run's first seconds, left out of its second p99: a worker just started (cold
#: caches, first connections to the changelog partitions) drains a backlog for a few seconds.
WARM_UP_SECONDS = 5.0


#: Changelog value sizes seen by the last `state_latencies` call (bytes).
STATE_SIZES: list[int] = []


def state_latencies(
    bootstrap: str, events: str, changelog: str
) -> tuple[list[tuple[float, float]], int]:
    """(event sent at, seconds to its user's state write) of each event, and the count of
    unmatched events.

    Event k of a user is matched to the first changelog record of that user whose
    events_total >= k.
    """
    from stream_app.state.codec import decode_state

    STATE_SIZES.clear()
    produced: dict[bytes, list[int]] = {}
    for rec in read_topic(bootstrap, events, timeout_seconds=60):
        produced.setdefault(rec.key or b"", []).append(rec.timestamp_ms)
    writes: dict[bytes, list[tuple[int, int, int]]] = {}
    for rec in read_topic(bootstrap, changelog, timeout_seconds=60):
        if rec.value is not None:
            total = decode_state(rec.value).events_total
            STATE_SIZES.append(len(rec.value))
            writes.setdefault(rec.key or b"", []).append((rec.offset, total, rec.timestamp_ms))
    lat: list[tuple[float, float]] = []
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
            lat.append((ts / 1000.0, (w[j][2] - ts) / 1000.0))
    return lat, unmatched


# --------------------------------------------------------------------------- state size
def state_size_bound(sequence_length: int = 50) -> dict[str, int]:
    """Encoded bytes of a worst-case user state: a full ring of `sequence_length` events with
    ids of the longest length decode accepts, a model state of the served artifact, an open
    prediction per level and an action time per kind (what the state's size grows with)."""
    from stream_app.events.decode import MAX_ID_CHARS
    from stream_app.events.schema import EventType
    from stream_app.model.heads import model_state
    from stream_app.model.runtime import ModelRuntime
    from stream_app.state.codec import encode_state
    from stream_app.state.outcomes import OpenPrediction
    from stream_app.state.user_state import RecentEvent, UserState

    rt = ModelRuntime(DEFAULT_MODEL_PATH, prefer_cuda=False, intra_op_threads=1)
    h, c = rt.initial_state(1)
    num = np.zeros((1, len(_numeric_features())), dtype=np.float32)
    out = rt.step([0], [0], num, h, c)
    model = model_state("v" * 64, out, 0, rt.top_buckets(out.h))
    long_id = "9" * MAX_ID_CHARS
    ring = tuple(
        RecentEvent(1.7e9 + i, EventType.PURCHASE, long_id, long_id, 1e11 + 0.1 * i, long_id)
        for i in range(sequence_length)
    )
    levels = ("warning", "at_risk", "critical")
    worst = UserState(
        events_total=2**40,
        recent=ring,
        model=model,
        action_times=tuple((k, 1.7e9) for k in ("re_recommend", "push", "coupon")),
        predictions=tuple(
            OpenPrediction(lvl, 0.123456789, "v" * 64, 1.7e9, 1.8e9, (("coupon", True),))
            for lvl in levels
        ),
    )
    return {
        "sequence_length": sequence_length,
        "worst_case_state_bytes": len(encode_state(worst)),
        "model_only_state_bytes": len(encode_state(UserState(model=model))),
    }


def _numeric_features() -> tuple[str, ...]:
    from stream_app.model.contract import NUMERIC_FEATURES

    return tuple(NUMERIC_FEATURES)
