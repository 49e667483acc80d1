"""Benchmark: raw aiokafka, bare Faust, quixstreams peer and the full worker; model microbench.

    .venv/bin/python -m bench.run [--events N] [--runs R]

One local broker (temp dir), a fresh 8-partition topic per measured run (every consumer starts
at offset 0), N real Taobao-slice events repeated with shifted user ids. Writes
bench/results/latest.json and bench/results/latest.md.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import report
from bench.harness import RESULTS, Message, build_messages, local_broker, log, machine, produce
from bench.latency import run_latency, state_size_bound
from bench.model_step import model_micro
from bench.systems import run_bare, run_group, run_quix, run_raw, run_worker

ALL_SYSTEMS = {"raw", "bare", "quix", "worker"}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command line of the benchmark."""
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--events", type=int, default=200_000)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument(
        "--latency-seconds", type=float, default=20.0, help="length of the paced latency run"
    )
    p.add_argument("--skip-latency", action="store_true")
    p.add_argument(
        "--fixed-rate", type=float, default=1000.0, help="second latency run at this rate (ev/s)"
    )
    p.add_argument(
        "--scaleout-runs", type=int, default=1, help="rounds of 1 worker vs 2 in one group"
    )
    p.add_argument(
        "--systems",
        default="raw,bare,quix,worker",
        help="comma list of raw,bare,quix,worker (experiments: measure a subset)",
    )
    p.add_argument("--out", type=Path, default=RESULTS)
    return p.parse_args(argv)


def run_round(
    r: int,
    systems: set[str],
    bootstrap: str,
    tmp: Path,
    res: dict[str, Any],
    messages: list[Message],
    max_ts: float,
) -> None:
    """Round `r`: each selected system once, on fresh topics; appends to res[system]."""
    n = len(messages)
    peers: dict[str, tuple[str, Callable[[str], dict[str, float]]]] = {
        "raw": ("(a) raw", lambda topic: run_raw(bootstrap, topic, n)),
        "bare": ("(b) bare", lambda topic: run_bare(bootstrap, topic, n, tmp, str(r))),
        "quix": ("(d) quixstreams", lambda topic: run_quix(bootstrap, topic, n, tmp, str(r))),
    }
    for system, (label, run) in peers.items():
        if system in systems:
            topic = f"bench.{system}.{r}"
            produce(bootstrap, topic, messages)
            res[system].append(run(topic))
            log(f"{label} run {r}: {res[system][-1]['eps']:.0f} ev/s")
    if "worker" in systems:
        w = run_worker(bootstrap, n, tmp, f"w{r}", messages, max_ts)
        res["worker"].append(w)
        log(f"(c) worker run {r}: {w['eps']:.0f} ev/s, batch {w['batch_size_mean']:.1f}")


def latency_run(
    args: argparse.Namespace,
    bootstrap: str,
    tmp: Path,
    res: dict[str, Any],
    messages: list[Message],
    max_ts: float,
) -> None:
    """Paced runs at half the worker's median rate (res['latency']) and at a fixed rate
    (res['latency_fixed'])."""
    half = res["summary"]["worker_eps"] / 2
    for key, rate in (("latency", half), ("latency_fixed", args.fixed_rate)):
        count = min(len(messages), max(1000, int(rate * args.latency_seconds)))
        log(f"latency run: {count} events at {rate:.0f} ev/s")
        lat = run_latency(bootstrap, tmp, messages[:count], rate, max_ts, tag=key)
        if key == "latency":
            report.add_latency(res, lat)
        else:
            res[key] = lat
        log(
            f"latency p50 {lat['latency_p50_s']:.3f}s p99 {lat['latency_p99_s']:.3f}s, "
            f"after warm-up {lat['latency_p99_after_warm_up_s']:.3f}s"
        )


def scaleout_runs(
    args: argparse.Namespace,
    bootstrap: str,
    tmp: Path,
    res: dict[str, Any],
    messages: list[Message],
    max_ts: float,
) -> None:
    """One worker, then two in one consumer group, on the same events: res['scaleout']."""
    res["scaleout"] = {"1": [], "2": []}
    for r in range(args.scaleout_runs):
        for workers in (1, 2):
            g = run_group(bootstrap, tmp, f"g{workers}x{r}", messages, max_ts, workers)
            res["scaleout"][str(workers)].append(g)
            log(f"scale-out run {r}, {workers} worker(s): {g['eps']:.0f} ev/s")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and write bench/results/latest.{json,md}."""
    args = parse_args(argv)
    systems = set(args.systems.split(","))
    log(f"building {args.events} events")
    messages, users, max_ts = build_messages(args.events)
    res: dict[str, Any] = {"events": args.events, "users": users, "runs": args.runs}
    res |= {"machine": machine(), "raw": [], "bare": [], "quix": [], "worker": []}
    with local_broker() as (bootstrap, tmp):
        for r in range(args.runs):
            run_round(r, systems, bootstrap, tmp, res, messages, max_ts)
        if systems != ALL_SYSTEMS:
            res["summary"] = report.partial_summary(res)
            report.write_json(res, args.out)
            log(f"partial run summary (events/s medians): {res['summary']}")
            return 0
        res["summary"] = report.summary(res)
        if not args.skip_latency:
            latency_run(args, bootstrap, tmp, res, messages, max_ts)
        if args.scaleout_runs:
            scaleout_runs(args, bootstrap, tmp, res, messages, max_ts)
    res["state_bound"] = state_size_bound()
    log("model microbenchmark")
    res["model_micro"] = model_micro()
    print(report.write_results(res, args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
