"""`decay-stream score`: P(any event within H after a cutoff) per user, through the ONNX step graph.

Each user's events before the cutoff go through the worker's code path
(`stream_app.model.scoring`). Every row also has the user's recency, frequency, purchases and
spend before the cutoff, the cutoff, the horizon and the model version, as CSV or JSON lines.
Every bad input is one `error:` line (exit 2): a missing or unreadable log, a wrong format, a
missing column, an unknown event type, a cutoff outside the data, a bad horizon or model.
"""

from __future__ import annotations

import argparse
import logging
import lzma
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from stream_app.clock import SECONDS_PER_DAY
from stream_app.commands.arguments import add_score_arguments
from stream_app.commands.errors import UsageError
from stream_app.commands.model_file import open_model
from stream_app.commands.score_report import (
    CLICKSTREAM_SHARE,
    browsing_share,
    score_rows,
    write_csv,
    write_json_lines,
)
from stream_app.data.eventlogs import read_log
from stream_app.model.eventlog import EventLog, parse_timestamp
from stream_app.model.scoring import score
from stream_app.paths import CLICKSTREAM_MODEL_PATH, DEFAULT_MODEL_PATH

log = logging.getLogger(__name__)


def iso(seconds: float) -> str:
    """Unix seconds as ISO 8601 UTC."""
    return datetime.fromtimestamp(seconds, tz=UTC).isoformat()


def parse_cutoff(value: str) -> float:
    """Cutoff as Unix seconds (ISO 8601 or seconds; a naive time is UTC)."""
    try:
        return parse_timestamp(value)
    except (ValueError, OverflowError) as exc:
        raise UsageError(f"--cutoff {value!r}: not a time ({exc})") from None


def load_log(path: Path, fmt: str) -> EventLog:
    """The event log, or UsageError naming the file and what is wrong with it."""
    if not path.exists():
        raise UsageError(f"{path}: no such event log")
    if not path.is_file():
        raise UsageError(f"{path}: not a file")
    try:
        events = read_log(path, fmt)
    except KeyError as exc:
        raise UsageError(
            f"{path}: no column {exc} (--format {fmt}; auto reads the header)"
        ) from None
    except (ValueError, UnicodeDecodeError, lzma.LZMAError, EOFError, OSError) as exc:
        raise UsageError(f"{path}: {exc}") from None
    if len(events) == 0:
        raise UsageError(f"{path}: no events (an empty or header-only log)")
    return events


def check_cutoff(events: EventLog, cutoff: float, horizon_days: float, path: Path) -> None:
    """A cutoff after the first event and at most one horizon past the last."""
    first, last = float(events.ts_seconds.min()), float(events.ts_seconds.max())
    if cutoff <= first:
        raise UsageError(
            f"--cutoff {iso(cutoff)} is not after the first event of {path} ({iso(first)}):"
            " no user has history before it"
        )
    if cutoff > last + horizon_days * SECONDS_PER_DAY:
        raise UsageError(
            f"--cutoff {iso(cutoff)} is more than the horizon ({horizon_days:g} days) after the"
            f" last event of {path} ({iso(last)}): give a cutoff within the data"
        )


def model_for_log(events: EventLog, chosen: Path | None) -> Path:
    """The model given, else the one trained on this kind of log; a mismatch is warned."""
    clickstream = browsing_share(events) >= CLICKSTREAM_SHARE
    fitting = CLICKSTREAM_MODEL_PATH if clickstream else DEFAULT_MODEL_PATH
    kind = "a clickstream log (views, clicks, carts, favourites)" if clickstream else "an order log"
    if chosen is None:
        log.info("%s: scored with %s", kind, fitting)
        return fitting
    known = {DEFAULT_MODEL_PATH.resolve(), CLICKSTREAM_MODEL_PATH.resolve()}
    if chosen.resolve() in known and chosen.resolve() != fitting.resolve():
        log.warning(
            "the log is %s but --model %s was trained on the other kind: its scores do not fit"
            " this data; use --model %s",
            kind, chosen, fitting,
        )  # fmt: skip
    return chosen


def build_parser() -> argparse.ArgumentParser:
    """Arguments of the score command."""
    p = argparse.ArgumentParser(
        prog="score", description=__doc__.splitlines()[0].split(": ", 1)[1] if __doc__ else ""
    )
    return add_score_arguments(p)


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m stream_app.commands.score`."""
    return run(build_parser().parse_args(argv))


def run(args: argparse.Namespace) -> int:
    """`decay-stream score` with parsed arguments."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    cutoff = parse_cutoff(args.cutoff)
    events = load_log(args.events, args.fmt)
    runtime = open_model(model_for_log(events, args.model), prefer_cuda=not args.cpu)
    horizon = runtime.spec.horizon_days if args.horizon_days is None else args.horizon_days
    check_cutoff(events, cutoff, horizon, args.events)
    scores = score(runtime, events, cutoff, horizon)
    rows = score_rows(
        scores, events.before(cutoff).sorted(), iso(cutoff), horizon, runtime.spec.model_version
    )
    write = write_json_lines if args.json else write_csv
    count = write_to(args.out, lambda out: write(rows, out))
    log.info(
        "scored %d users at cutoff %s, horizon %g days, model %s",
        count, iso(cutoff), horizon, runtime.spec.model_version,
    )  # fmt: skip
    return 0


def write_to(path: Path | None, write: Callable[[TextIO], int]) -> int:
    """Write to a file (created with its folder) or to stdout when path is None."""
    if path is None:
        return write(sys.stdout)
    if path.is_dir():
        raise UsageError(f"--out {path}: a folder, not a file")
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as fh:
        return write(fh)


if __name__ == "__main__":
    raise SystemExit(main())
