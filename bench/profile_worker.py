"""py-spy profile of the full worker (or the bare Faust app) draining N pre-produced events.

    .venv/bin/python -m bench.profile_worker [--events N] [--target worker|bare]

Writes bench/results/profile-<target>.txt: top functions by inclusive and by self samples
(from py-spy's collapsed stacks, kept as bench/results/profile-<target>.collapsed).
"""

from __future__ import annotations

import argparse
import collections
import os
import subprocess
import sys
import time
from pathlib import Path

from bench.harness import (
    RESULTS,
    Message,
    build_messages,
    create_worker_topics,
    local_broker,
    produce,
    stop,
    worker_settings,
)
from bench.systems import bare_env, spawn_bare
from stream_app.commands.processes import spawn_worker
from stream_app.kafka.reading import wait_caught_up

#: The venv's py-spy ([bench] extra), or $PY_SPY (e.g. one installed with pip --target).
PY_SPY = Path(os.environ.get("PY_SPY") or Path(sys.executable).with_name("py-spy"))


def summarize(collapsed: Path, top: int = 30) -> str:
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        n = int(count)
        total += n
        frames = stack.split(";")
        for frame in set(frames):
            inclusive[frame] += n
        own[frames[-1]] += n
    out = [f"total samples: {total}", "", "## inclusive"]
    out += [f"{100 * c / total:5.1f}%  {f}" for f, c in inclusive.most_common(top)]
    out += ["", "## self"]
    out += [f"{100 * c / total:5.1f}%  {f}" for f, c in own.most_common(top)]
    return "\n".join(out) + "\n"


def start_target(
    target: str, bootstrap: str, tmp: Path, messages: list[Message], max_ts: float
) -> tuple[subprocess.Popen[bytes], str, str]:
    """Pre-produce the events and start the worker or the bare app: (process, group, topic)."""
    if target == "worker":
        s = worker_settings(bootstrap, "prof", tmp, max_ts)
        create_worker_topics(s)
        produce(bootstrap, s.events_topic, messages)
        return spawn_worker(s, log_path=tmp / "worker.log"), s.app_id, s.events_topic
    topic, group = "bench.prof.events", "bench-bare-prof"
    produce(bootstrap, topic, messages)
    return spawn_bare(bare_env(bootstrap, group, topic, tmp / "bare")), group, topic


def record(pid: int, rate: int, collapsed: Path) -> subprocess.Popen[bytes]:
    """Start py-spy on `pid`, raw collapsed stacks into `collapsed`."""
    command = [str(PY_SPY), "record", "--pid", str(pid), "--format", "raw"]
    command += ["--rate", str(rate), "--nonblocking", "-o", str(collapsed)]
    return subprocess.Popen(command)


def main() -> int:
    """Profile one target draining N events; write and print the summary."""
    p = argparse.ArgumentParser()
    p.add_argument("--events", type=int, default=30_000)
    p.add_argument("--target", choices=("worker", "bare"), default="worker")
    p.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    args = p.parse_args()
    messages, _, max_ts = build_messages(args.events)
    RESULTS.mkdir(parents=True, exist_ok=True)
    collapsed = RESULTS / f"profile-{args.target}.collapsed"
    with local_broker("decay-prof-") as (bootstrap, tmp):
        proc, group, topic = start_target(args.target, bootstrap, tmp, messages, max_ts)
        spy = record(proc.pid, args.rate, collapsed)
        try:
            wait_caught_up(bootstrap, group, topic, timeout_seconds=600)
            time.sleep(1)
        finally:
            spy.send_signal(2)
            spy.wait(30)
            stop(proc)
    text = summarize(collapsed)
    (RESULTS / f"profile-{args.target}.txt").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
