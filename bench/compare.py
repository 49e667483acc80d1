"""A/B runs of the full worker: variants side by side on one broker, with the bare baseline.

    .venv/bin/python -m bench.compare --events 30000 --runs 3 \
        --variant base=/tmp/hperf-base --variant new=. [--env new:DECAY_X=1] [--bare-env K=V]

A variant is a source tree (put first on the worker's PYTHONPATH) plus optional environment
variables. Each round runs the bare Faust baseline (b) once, then every variant once, in an
order that rotates between rounds. Prints medians and ratios; nothing is written to results/.
Numbers from different invocations are not comparable on a shared machine: compare within one.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from pathlib import Path

from bench.run import build_messages, log, produce, run_bare, run_worker
from stream_app.kafka.local import LocalKafka


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=30_000)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--variant", action="append", required=True, help="NAME=PATH")
    p.add_argument("--env", action="append", default=[], help="NAME:KEY=VALUE")
    p.add_argument("--bare-env", action="append", default=[], help="KEY=VALUE for (b)")
    p.add_argument("--no-bare", action="store_true")
    args = p.parse_args(argv)
    variants: dict[str, dict[str, str]] = {}
    for spec in args.variant:
        name, _, path = spec.partition("=")
        pythonpath = os.pathsep.join([str(Path(path).resolve()), os.environ.get("PYTHONPATH", "")])
        variants[name] = {"PYTHONPATH": pythonpath}
    for spec in args.env:
        name, _, assignment = spec.partition(":")
        key, _, value = assignment.partition("=")
        variants[name][key] = value
    bare_env = dict(a.split("=", 1) for a in args.bare_env)
    messages, users, max_ts = build_messages(args.events)
    eps: dict[str, list[float]] = {name: [] for name in variants}
    eps["bare"] = []
    with tempfile.TemporaryDirectory(prefix="decay-ab-") as tmpname:
        tmp = Path(tmpname)
        kafka = LocalKafka(data_dir=tmp / "kafka").start()
        bootstrap = kafka.bootstrap_servers
        try:
            names = list(variants)
            for r in range(args.runs):
                if not args.no_bare:
                    topic = f"ab.bare.{r}"
                    produce(bootstrap, topic, messages)
                    eps["bare"].append(
                        run_bare(bootstrap, topic, args.events, tmp, f"ab{r}", bare_env)["eps"]
                    )
                    log(f"round {r} bare: {eps['bare'][-1]:.0f} ev/s")
                order = names[r % len(names) :] + names[: r % len(names)]
                for name in order:
                    res = run_worker(
                        bootstrap,
                        args.events,
                        tmp,
                        f"{name}{r}",
                        messages,
                        max_ts,
                        env=variants[name],
                    )
                    eps[name].append(res["eps"])
                    log(
                        f"round {r} {name}: {res['eps']:.0f} ev/s, batch "
                        f"{res['batch_size_mean']:.1f}"
                    )
        finally:
            kafka.stop()
    first = names[0]
    print(f"N={args.events} users={users} runs={args.runs}")
    for name, runs in eps.items():
        if not runs:
            continue
        m = statistics.median(runs)
        line = f"{name:>10}: median {m:7.0f} ev/s  runs {', '.join(f'{x:.0f}' for x in runs)}"
        if name != "bare":
            line += f"  /{first} {m / statistics.median(eps[first]):.2f}"
            if eps["bare"]:
                line += f"  /bare {m / statistics.median(eps['bare']):.2f}"
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
