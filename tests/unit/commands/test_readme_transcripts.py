"""The README's offline try is what `score` and `policy simulate` print now, on the shared data."""

from __future__ import annotations

import logging
import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest

from stream_app.cli import main

REPO = Path(__file__).resolve().parents[3]
ELIDED = "…"


@pytest.fixture(autouse=True)
def logging_restored() -> Iterator[None]:
    """The command sets up logging for a process; the tests after this one get theirs back."""
    loggers = [logging.getLogger(), *(
        logger for logger in logging.Logger.manager.loggerDict.values()
        if isinstance(logger, logging.Logger)
    )]  # fmt: skip
    saved = [(lg, lg.level, list(lg.handlers), lg.propagate, lg.disabled) for lg in loggers]
    yield
    for logger, level, handlers, propagate, disabled in saved:
        logger.setLevel(level)
        logger.handlers[:] = handlers
        logger.propagate, logger.disabled = propagate, disabled


def transcript(command: str) -> tuple[list[str], list[str]]:
    """The arguments of the README's `$ .venv/bin/decay-stream <command> …` block and its lines."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    prompt = f"$ .venv/bin/decay-stream {command} "
    start = text.index(prompt)
    end = text.index("```", start)
    first, *lines = text[start:end].rstrip("\n").split("\n")
    args = shlex.split(first.removeprefix("$ .venv/bin/decay-stream ").split("|")[0])
    return args, lines


def printed(args: list[str], capsys: pytest.CaptureFixture[str]) -> list[str]:
    """What the command prints, with this checkout's folder shown as the README shows it."""
    assert main(args) == 0
    return capsys.readouterr().out.replace(f"{REPO}/", f"{ELIDED}/").splitlines()


def in_order(shown: list[str], out: list[str]) -> bool:
    """Every line shown (the elided ones aside) is printed, in the same order."""
    rest = iter(out)
    return all(line in rest for line in shown if line != ELIDED)


def test_the_score_transcript_is_what_score_prints(
    shared_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args, shown = transcript("score")
    assert printed(args, capsys)[: len(shown)] == shown


@pytest.mark.slow
def test_the_simulate_transcript_is_what_policy_simulate_prints(
    shared_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args, shown = transcript("policy simulate")
    out = printed(args, capsys)
    assert in_order(shown, out), "\n".join(out)


def test_a_line_out_of_order_or_not_printed_fails() -> None:
    assert in_order(["a", ELIDED, "c"], ["a", "b", "c"])
    assert not in_order(["c", "a"], ["a", "b", "c"])
    assert not in_order(["a", "d"], ["a", "b", "c"])
