"""`score`: P(any event within H after a cutoff) per user, through the ONNX step graph.

Each user's events before the cutoff go through the worker's code path: the numeric features of
`stream_app.model.features`, one batched `ModelRuntime.step` per event position, then the
closed-form survival of `stream_app.model.survival` at the silence τ = cutoff − last event.
"""

from __future__ import annotations

import argparse
import csv
import logging
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt

from stream_app.model.adapters import read_online_retail, read_taobao
from stream_app.model.contract import SECONDS_PER_DAY
from stream_app.model.eventlog import EventLog, parse_timestamp, read_canonical
from stream_app.model.features import category_buckets, log_numeric_features
from stream_app.model.runtime import ModelRuntime
from stream_app.model.survival import return_probability

log = logging.getLogger(__name__)

DEFAULT_MODEL = Path(__file__).resolve().parents[2] / "models" / "decay_step.onnx"
FORMATS = ("canonical", "online-retail", "taobao")
F64 = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Scores:
    """Users with history before the cutoff and their return probabilities."""

    user_id: npt.NDArray[np.object_]
    p_return: F64
    tau_days: F64


def read_log(path: Path, fmt: str) -> EventLog:
    """An event log in one of `FORMATS`."""
    if fmt == "online-retail":
        return read_online_retail(path)
    if fmt == "taobao":
        return read_taobao(path)
    return read_canonical(path)


def final_heads(
    runtime: ModelRuntime, log_: EventLog, batch_users: int = 4096
) -> tuple[F64, F64, F64]:
    """Head parameters (U, R) after each user's last event (log sorted by user, time)."""
    users, starts = log_.user_bounds()
    lengths = np.diff(starts)
    order = np.argsort(-lengths, kind="stable")  # active users at step t form a prefix
    first, n_sorted = starts[:-1][order], lengths[order]
    buckets = category_buckets(list(log_.category_id))
    numeric = log_numeric_features(log_.ts_seconds, log_.event_type, log_.price, starts)
    h, c = runtime.initial_state(len(users))
    comps = runtime.spec.components
    heads = [np.zeros((len(users), comps)) for _ in range(3)]
    for t in range(int(lengths.max(initial=0))):
        active = int(np.searchsorted(-n_sorted, -t, side="left"))
        for lo in range(0, active, batch_users):
            sl = slice(lo, min(lo + batch_users, active))
            idx = first[sl] + t
            out = runtime.step(log_.event_type[idx], buckets[idx], numeric[idx], h[sl], c[sl])
            h[sl], c[sl] = out.h, out.c
            for arr, new in zip(heads, (out.mu, out.alpha, out.beta), strict=True):
                arr[sl] = new
    inverse = np.argsort(order)
    return heads[0][inverse], heads[1][inverse], heads[2][inverse]


def score(
    runtime: ModelRuntime, log_: EventLog, cutoff_seconds: float, horizon_days: float | None = None
) -> Scores:
    """Calibrated P(return within H | silent since the last event) at the cutoff."""
    before = log_.before(cutoff_seconds).sorted()
    users, starts = before.user_bounds()
    mu, alpha, beta = final_heads(runtime, before)
    tau = (cutoff_seconds - before.ts_seconds[starts[1:] - 1]) / SECONDS_PER_DAY
    horizon = runtime.spec.horizon_days if horizon_days is None else horizon_days
    p = return_probability(mu, alpha, beta, tau, horizon, runtime.calibration)
    return Scores(users, p, tau)


def write_scores(scores: Scores, path: Path | None) -> None:
    """CSV `user_id,p_return` to a file, or stdout when path is None."""
    fh = sys.stdout if path is None else path.open("w", encoding="utf-8", newline="")
    try:
        writer = csv.writer(fh)
        writer.writerow(("user_id", "p_return"))
        for user, p in sorted(zip(scores.user_id, scores.p_return, strict=True)):
            writer.writerow((user, f"{p:.6f}"))
    finally:
        if path is not None:
            fh.close()


def parse_cutoff(value: str) -> float:
    """Cutoff as Unix seconds (ISO 8601 or seconds; a naive time is UTC)."""
    return parse_timestamp(value)


def build_parser() -> argparse.ArgumentParser:
    """Arguments of the score command."""
    p = argparse.ArgumentParser(
        prog="score", description=__doc__.splitlines()[0] if __doc__ else ""
    )
    p.add_argument("events", type=Path, help="event log: CSV (.xz ok) or Parquet")
    p.add_argument("--cutoff", required=True, help="ISO 8601 time (naive = UTC) or Unix seconds")
    p.add_argument("--format", choices=FORMATS, default="canonical", dest="fmt")
    p.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="ONNX step graph")
    p.add_argument("--horizon-days", type=float, default=None, help="default: the model's")
    p.add_argument("--out", type=Path, default=None, help="output CSV (default: stdout)")
    p.add_argument("--cpu", action="store_true", help="do not try CUDA")
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point: `decay-stream score` / `python -m stream_app.model.scoring`."""
    args = build_parser().parse_args(argv)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    runtime = ModelRuntime(args.model, prefer_cuda=not args.cpu)
    cutoff = parse_cutoff(args.cutoff)
    scores = score(runtime, read_log(args.events, args.fmt), cutoff, args.horizon_days)
    write_scores(scores, args.out)
    when = datetime.fromtimestamp(cutoff, tz=UTC).isoformat()
    log.info("scored %d users at cutoff %s", len(scores.user_id), when)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
