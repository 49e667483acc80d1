"""The README's demo transcript is what `demo` prints now, run against the test broker.

The lines that do not depend on the machine's pace (the model, the replay, the user-state
summary) must be printed as shown, in order; the alert lines, whose dates and counts follow the
wall clock, must have the format `demo` prints.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from stream_app.cli import build_parser
from stream_app.commands.demo import run_demo
from stream_app.settings import Settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
PROMPT = "$ .venv/bin/decay-stream demo"
ELIDED = "…"
ALERT_LINE = re.compile(
    r"^  \d{4}-\d{2}-\d{2}  (warning|at_risk|critical) +user#[0-9a-f]{8}  "
    r"P\(return in \d+d\)=\d\.\d\d  silent +\d+\.\d d  interests: \S.*$"
)
#: Lines whose content follows the wall clock: the alerts, the periods and their counts.
PACED = ("  20", f"  {ELIDED}", "  alerts seen:")


def readme_demo() -> tuple[list[str], list[str]]:
    """The arguments of the README's demo block and the lines it shows."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    start = text.index(f"```\n{PROMPT}") + len("```\n")
    first, *lines = text[start : text.index("```", start)].rstrip("\n").split("\n")
    return first.removeprefix(PROMPT).split(), lines


def in_order(shown: list[str], out: list[str]) -> bool:
    """Every line shown is printed, in the same order."""
    rest = iter(out)
    return all(line in rest for line in shown)


def test_the_demo_transcript_is_what_demo_prints(
    shared_data: Path, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    extra, shown = readme_demo()
    args = build_parser().parse_args(["demo", *extra])
    assert run_demo(settings.model_copy(update={"partitions": 8}), args) == 0
    out = (
        capsys.readouterr()
        .out.replace(f"{REPO}/", f"{ELIDED}/")
        .replace(str(settings.data_dir), "var/worker")
        .replace(f"{settings.app_id}-user-state", "decay-stream-user-state")
        .splitlines()
    )
    fixed = [line for line in shown if line and not line.startswith(PACED)]
    assert in_order(fixed, [line for line in out if line]), "\n".join(out)
    shown_alerts = [line for line in shown if line.startswith("  20")]
    printed_alerts = [line for line in out if line.startswith("  20")]
    assert shown_alerts and all(ALERT_LINE.match(line) for line in shown_alerts)
    assert len(printed_alerts) >= len(shown_alerts)
    assert all(ALERT_LINE.match(line) for line in printed_alerts), "\n".join(printed_alerts)
