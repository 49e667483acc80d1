"""A/B runs of the full worker: variants side by side on one broker, with the bare baseline.

    .venv/bin/python -m bench.compare --events 30000 --runs 3 \
        --variant base=/tmp/hperf-base --variant new=. [--env new:DECAY_X=1] [--bare-env K=V]

A variant is a source tree (put first on the worker's PYTHONPATH, with PYTHONSAFEPATH so the
working directory does not shadow it) plus optional environment
variables. Each round runs the bare Faust baseline (b) once, then every variant once, in an
order that rotates between rounds. Prints medians and ratios; nothing is written to results/.
Numbers from different invocations are not comparable on a shared machine: compare within one.
"""

from __future__ import annotations

import argparse
import os
import statistics
from pathlib import Path

from bench.harness import Message, build_messages, local_broker, log, produce
from bench.latency import run_latency
from bench.systems import run_bare, run_worker


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command line of the A/B comparison."""
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--events", type=int, default=30_000)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--variant", action="append", required=True, help="NAME=PATH")
    p.add_argument("--env", action="append", default=[], help="NAME:KEY=VALUE")
    p.add_argument("--bare-env", action="append", default=[], help="KEY=VALUE for (b)")
    p.add_argument("--no-bare", action="store_true")
    p.add_argument(
        "--latency",
        type=float,
        default=0.0,
        help="instead of throughput: paced runs at this rate (ev/s), p99 event→state in ms",
    )
    return p.parse_args(argv)


def variant_envs(specs: list[str], env_specs: list[str]) -> dict[str, dict[str, str]]:
    """NAME=PATH and NAME:KEY=VALUE arguments → {name: environment of its workers}."""
    variants: dict[str, dict[str, str]] = {}
    for spec in specs:
        name, _, path = spec.partition("=")
        pythonpath = os.pathsep.join([str(Path(path).resolve()), os.environ.get("PYTHONPATH", "")])
        # `python -m` puts the working directory first on sys.path, ahead of PYTHONPATH: without
        # PYTHONSAFEPATH every variant would run the code of the directory the bench runs in.
        variants[name] = {"PYTHONPATH": pythonpath, "PYTHONSAFEPATH": "1"}
    for spec in env_specs:
        name, _, assignment = spec.partition(":")
        key, _, value = assignment.partition("=")
        variants[name][key] = value
    return variants


def run_rounds(
    args: argparse.Namespace,
    variants: dict[str, dict[str, str]],
    messages: list[Message],
    max_ts: float,
) -> dict[str, list[float]]:
    """Every round: (b) once, then each variant once in a rotating order; events/s per run."""
    bare_env = dict(a.split("=", 1) for a in args.bare_env)
    names = list(variants)
    eps: dict[str, list[float]] = {name: [] for name in [*names, "bare"]}
    with local_broker("decay-ab-") as (bootstrap, tmp):
        for r in range(args.runs):
            if not args.no_bare:
                produce(bootstrap, f"ab.bare.{r}", messages)
                bare = run_bare(bootstrap, f"ab.bare.{r}", args.events, tmp, f"ab{r}", bare_env)
                eps["bare"].append(bare["eps"])
                log(f"round {r} bare: {eps['bare'][-1]:.0f} ev/s")
            for name in names[r % len(names) :] + names[: r % len(names)]:
                if args.latency:
                    lat = run_latency(
                        bootstrap, tmp, messages, args.latency, max_ts, f"{name}{r}", variants[name]
                    )
                    eps[name].append(1e3 * lat["latency_p99_s"])
                    eps.setdefault(WARM + name, []).append(1e3 * lat["latency_p99_after_warm_up_s"])
                    log(
                        f"round {r} {name}: p50 {1e3 * lat['latency_p50_s']:.1f} ms, "
                        f"p99 {eps[name][-1]:.1f} ms, max {1e3 * lat['latency_max_s']:.1f} ms, "
                        f"p99 after warm-up {1e3 * lat['latency_p99_after_warm_up_s']:.1f} ms"
                    )
                    continue
                res = run_worker(
                    bootstrap, args.events, tmp, f"{name}{r}", messages, max_ts, variants[name]
                )
                eps[name].append(res["eps"])
                eps.setdefault(CPU + name, []).append(res["cpu_us_per_event"])
                log(
                    f"round {r} {name}: {res['eps']:.0f} ev/s, batch {res['batch_size_mean']:.1f}, "
                    f"{res['cpu_us_per_event']:.0f} CPU µs/event"
                )
    return eps


#: Prefix of the series of p99s after the latency run's warm-up.
WARM = "warm:"
#: Prefix of the series of the worker's CPU µs per event (user + system, start-up left out):
#: on a shared machine far steadier than events/s, which other processes' load moves.
CPU = "cpu:"


def print_medians(eps: dict[str, list[float]], first: str, unit: str = "ev/s") -> None:
    """One line per variant: median, runs, ratio to the first variant and to (b)."""
    for name, runs in eps.items():
        if not runs:
            continue
        m = statistics.median(runs)
        line = f"{name:>10}: median {m:7.0f} {unit}  runs {', '.join(f'{x:.0f}' for x in runs)}"
        if name != "bare":
            line += f"  /{first} {m / statistics.median(eps[first]):.2f}"
            if eps["bare"]:
                line += f"  /bare {m / statistics.median(eps['bare']):.2f}"
        print(line)


def main(argv: list[str] | None = None) -> int:
    """Run the variants side by side and print their medians."""
    args = parse_args(argv)
    variants = variant_envs(args.variant, args.env)
    messages, users, max_ts = build_messages(args.events)
    eps = run_rounds(args, variants, messages, max_ts)
    print(f"N={args.events} users={users} runs={args.runs}")
    if args.latency:
        print(f"p99 event→state latency (ms) at {args.latency:.0f} ev/s (bare: none)")
    first = next(iter(variants))
    unit = "ms" if args.latency else "ev/s"
    series = {k: v for k, v in eps.items() if not k.startswith((WARM, CPU))}
    print_medians(series, first, unit)
    if not args.latency:
        print("worker CPU µs per event (user + system, from the first event consumed)")
        cpu = {k.removeprefix(CPU): v for k, v in eps.items() if k.startswith(CPU)}
        print_medians({**cpu, "bare": []}, first, "µs")
    if args.latency:
        print("p99 after the warm-up (ms)")
        warm = {k.removeprefix(WARM): v for k, v in eps.items() if k.startswith(WARM)}
        print_medians({**warm, "bare": []}, first, unit)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
