"""In-process microbenchmark of the per-batch path (no Kafka): EventPipeline on a dict store.

    .venv/bin/python -m bench.pipeline_micro [--events N] [--batch B] [--profile [--sort KEY]]

Feeds the benchmark's events in batches of B (the worker's mean model batch size is ~116) to
the same EventPipeline the worker runs (CPU model, policy off), and prints µs per event plus a
digest of the final table (each state's fields and numbers, whatever its format) and one of
the schedule, so two variants can be checked for identical output.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import hashlib
import pstats
import time
from collections import defaultdict
from dataclasses import astuple, is_dataclass, replace

from bench.harness import PARTITIONS, build_messages
from stream_app.clock import AcceleratedClock
from stream_app.events.dead_letter import DeadLetter
from stream_app.events.decode import DecodeLimits
from stream_app.events.partitioning import partition_for_key
from stream_app.paths import DEFAULT_MODEL_PATH
from stream_app.state import UserState, decode_state
from stream_app.worker.metrics import Metrics
from stream_app.worker.pipeline import EventPipeline, RawMessage, SourcePosition
from stream_app.worker.serving import ServingModel


def raw_messages(n: int) -> tuple[list[RawMessage], float]:
    pairs, _, max_ts = build_messages(n)
    offsets: dict[int, int] = defaultdict(int)
    out = []
    for key, value in pairs:
        partition = partition_for_key(key, PARTITIONS)
        out.append(RawMessage(key, value, SourcePosition("ev", partition, offsets[partition])))
        offsets[partition] += 1
    return out, max_ts


def canonical(state: UserState) -> str:
    """The state's numbers and fields as text, the same for any format and in-memory form."""
    model = state.model
    head = None
    if model is not None:
        rows = (model.h, model.c, model.mu, model.alpha, model.beta)
        head = (model.version, [list(map(float, r)) for r in rows], tuple(model.top_buckets))
    return repr((replace(state, recent=tuple(state.recent), model=None), head))


def entry_fields(entry: object) -> tuple[object, ...]:
    """A schedule entry's fields, whether a dataclass (older trees) or a tuple."""
    return astuple(entry) if is_dataclass(entry) else tuple(entry)  # type: ignore[arg-type]


async def run(messages: list[RawMessage], max_ts: float, batch: int) -> tuple[float, str, str]:
    metrics = Metrics()
    model = ServingModel(DEFAULT_MODEL_PATH, metrics, prefer_cuda=False)
    model.load()
    store: dict[bytes, bytes] = {}

    async def sink(letter: DeadLetter) -> None:
        raise AssertionError(letter.reason)

    pipeline = EventPipeline(
        store=store,
        dead_letters=sink,
        clock=AcceleratedClock(max_ts),
        metrics=metrics,
        limits=DecodeLimits(now_seconds=0.0),
        sequence_length=50,
        partitions=PARTITIONS,
        model=model,
    )
    t0 = time.process_time()  # CPU time: less sensitive than wall time to other tenants
    for i in range(0, len(messages), batch):
        await pipeline.handle_batch(messages[i : i + batch])
    seconds = time.process_time() - t0
    table, schedule = hashlib.sha256(), hashlib.sha256()
    for key in sorted(store):
        table.update(key + canonical(decode_state(store[key])).encode())
    for partition in sorted(pipeline.schedule.heaps):
        entries = sorted(map(entry_fields, pipeline.schedule.entries(partition)))
        schedule.update(repr(entries).encode())
    model.close()
    return seconds, table.hexdigest()[:16], schedule.hexdigest()[:16]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=30_000)
    p.add_argument("--batch", type=int, default=116)
    p.add_argument("--profile", action="store_true")
    p.add_argument(
        "--sort", default="tottime", help="the profile's order (pstats: cumulative, ...)"
    )
    args = p.parse_args()
    messages, max_ts = raw_messages(args.events)
    if args.profile:
        prof = cProfile.Profile()
        prof.enable()
    seconds, table, schedule = asyncio.run(run(messages, max_ts, args.batch))
    if args.profile:
        prof.disable()
        pstats.Stats(prof).sort_stats(args.sort).print_stats(30)
    print(
        f"{args.events} events, batch {args.batch}: {seconds:.2f} CPU s, "
        f"{1e6 * seconds / args.events:.1f} CPU µs/event, digest {table}, schedule {schedule}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
