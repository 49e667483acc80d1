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
import tempfile
import time
from pathlib import Path

from bench.run import (
    PARTITIONS,
    RESULTS,
    ROOT,
    build_messages,
    create_worker_topics,
    produce,
    stop,
    worker_settings,
)
from stream_app.commands.processes import spawn_worker
from stream_app.kafka.clients import wait_caught_up
from stream_app.kafka.local import LocalKafka

PY_SPY = Path(sys.executable).with_name("py-spy")


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


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--events", type=int, default=30_000)
    p.add_argument("--target", choices=("worker", "bare"), default="worker")
    p.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    args = p.parse_args()
    messages, _, max_ts = build_messages(args.events)
    RESULTS.mkdir(parents=True, exist_ok=True)
    collapsed = RESULTS / f"profile-{args.target}.collapsed"
    with tempfile.TemporaryDirectory(prefix="decay-prof-") as tmpname:
        tmp = Path(tmpname)
        kafka = LocalKafka(data_dir=tmp / "kafka").start()
        bootstrap = kafka.bootstrap_servers
        try:
            if args.target == "worker":
                s = worker_settings(bootstrap, "prof", tmp, max_ts)
                create_worker_topics(s)
                produce(bootstrap, s.events_topic, messages)
                proc = spawn_worker(s, log_path=tmp / "worker.log")
                group, topic = s.app_id, s.events_topic
            else:
                topic, group = "bench.prof.events", "bench-bare-prof"
                produce(bootstrap, topic, messages)
                env = {
                    **os.environ,
                    "BENCH_BOOTSTRAP": bootstrap,
                    "BENCH_APP_ID": group,
                    "BENCH_TOPIC": topic,
                    "BENCH_PARTITIONS": str(PARTITIONS),
                    "BENCH_DATADIR": str(tmp / "bare"),
                }
                proc = subprocess.Popen(
                    [sys.executable, "-m", "bench.bare_app", "worker", "-l", "warn"],
                    cwd=ROOT,
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.STDOUT,
                )
            spy = subprocess.Popen(
                [
                    str(PY_SPY),
                    "record",
                    "--pid",
                    str(proc.pid),
                    "--format",
                    "raw",
                    "--rate",
                    str(args.rate),
                    "--nonblocking",
                    "-o",
                    str(collapsed),
                ]
            )
            try:
                wait_caught_up(bootstrap, group, topic, timeout_seconds=600)
                time.sleep(1)
            finally:
                spy.send_signal(2)
                spy.wait(30)
                stop(proc)
        finally:
            kafka.stop()
    text = summarize(collapsed)
    (RESULTS / f"profile-{args.target}.txt").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
