"""Memory and disk per user of one worker at a large user count, with a chosen table store.

    .venv/bin/python -m bench.memory_scale --events 1530000 [--store rocksdb://]

Pre-produces N benchmark events (the Taobao slice repeated with shifted user ids: ~0.65 users
per event), drains them with one worker and records its throughput, its RSS, the users it
tracks and the size of its data directory (the RocksDB files), in
bench/results/memory-scale-<store scheme>.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from bench.harness import RESULTS, build_messages, local_broker, log, machine
from bench.report import GIB
from bench.systems import run_worker


def directory_bytes(path: Path) -> int:
    """Bytes of the files under `path`."""
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def main() -> int:
    """Run once and write the results."""
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--events", type=int, default=1_530_000)
    p.add_argument("--store", default="rocksdb://")
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args()
    messages, users, max_ts = build_messages(args.events)
    log(f"{len(messages)} events, {users} users")
    with local_broker("decay-memory-") as (bootstrap, tmp):
        started = time.time()
        res: dict[str, Any] = run_worker(
            bootstrap, args.events, tmp, "memory", messages, max_ts, {"DECAY_STORE_URL": args.store}
        )
        data_bytes = directory_bytes(tmp / "worker-memory")
    tracked = res["users_tracked"] or users
    out = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "machine": machine(),
        "store": args.store,
        "events": args.events,
        "users": users,
        "users_tracked": tracked,
        "eps": res["eps"],
        "rss_bytes": res["rss_bytes"],
        "rss_per_million_users_gib": res["rss_bytes"] / tracked * 1e6 / GIB,
        "data_dir_bytes": data_bytes,
        "data_dir_per_user_bytes": data_bytes / tracked,
    }
    m = out["machine"]
    args.out.mkdir(parents=True, exist_ok=True)
    name = f"memory-scale-{args.store.split(':', 1)[0]}"
    (args.out / f"{name}.json").write_text(json.dumps(out, indent=2) + "\n")
    (args.out / f"{name}.md").write_text(
        f"# Memory at scale ({out['when']})\n\n"
        f"Machine: {m['nproc']} cores, {m['cpu']}, {m['ram_gib']} GiB RAM.\n\n"
        f"One worker, store `{args.store}`, {args.events} events, {tracked:.0f} users tracked, "
        f"{out['eps']:.0f} events/s.\n\n"
        f"| metric | value |\n|---|---:|\n"
        f"| RSS after the run (MiB) | {out['rss_bytes'] / 2**20:.0f} |\n"
        f"| RSS per 1M users (GiB) | {out['rss_per_million_users_gib']:.2f} |\n"
        f"| data directory (MiB) | {data_bytes / 2**20:.0f} |\n"
        f"| data directory per user (bytes) | {out['data_dir_per_user_bytes']:.0f} |\n"
    )
    log(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
