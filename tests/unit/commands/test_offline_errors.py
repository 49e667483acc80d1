"""Every bad input of the offline commands is one `error:` line, exit 2, never a traceback."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from stream_app import cli
from stream_app.paths import DEFAULT_MODEL_PATH
from tests.conftest import FIXTURES, REPO_ROOT

SAMPLE = str(FIXTURES / "online_retail_sample.csv")  # 2010-12-01 only


@pytest.fixture(autouse=True)
def test_logging(monkeypatch: pytest.MonkeyPatch) -> None:
    """Log through pytest's capture: the CLI's own set-up would outlive the test."""
    monkeypatch.setattr(cli, "configure_logging", lambda *_: None)


def files(tmp_path: Path) -> dict[str, str]:
    made = {
        "empty": "",
        "header": "user_id,ts,type,item_id\n",
        "no_ts": "user_id,type\nu1,view\n",
        "bad_type": "user_id,ts,type,item_id\nu1,2020-01-01T00:00:00Z,buy,i\n",
    }
    for name, text in made.items():
        (tmp_path / f"{name}.csv").write_text(text)
    (tmp_path / "broken.onnx").write_bytes(b"not onnx")
    return {name: str(tmp_path / f"{name}.csv") for name in made} | {
        "dir": str(tmp_path),
        "broken_model": str(tmp_path / "broken.onnx"),
    }


CASES = {
    "empty log": (["score", "{empty}", "--cutoff", "2011-01-01"], "no events"),
    "header only": (["score", "{header}", "--cutoff", "2011-01-01"], "no events"),
    "cutoff before the data": (["score", SAMPLE, "--cutoff", "2000-01-01"], "not after the first"),
    "cutoff past the data": (["score", SAMPLE, "--cutoff", "2030-01-01"], "after the last event"),
    "missing column": (["score", "{no_ts}", "--cutoff", "2011-01-01"], "no column 'ts'"),
    "unknown type": (["score", "{bad_type}", "--cutoff", "2021-01-01"], "'buy'"),
    "wrong format": (
        ["score", SAMPLE, "--cutoff", "2010-12-15", "--format", "taobao"],
        "no column 'timestamp'",
    ),
    "missing model": (
        ["score", SAMPLE, "--cutoff", "2010-12-15", "--model", "/no.onnx"],
        "no such",
    ),
    "broken model": (
        ["score", SAMPLE, "--cutoff", "2010-12-15", "--model", "{broken_model}"],
        "cannot score",
    ),
    "folder as log": (["score", "{dir}", "--cutoff", "2011-01-01"], "not a file"),
    "negative horizon": (
        ["score", SAMPLE, "--cutoff", "2010-12-15", "--horizon-days", "-5"],
        "must be above 0",
    ),
    "bad cutoff": (["score", SAMPLE, "--cutoff", "yesterday"], "not a time"),
    "simulate missing model": (
        ["policy", "simulate", "--data", SAMPLE, "--model", "/no.onnx"],
        "no such file",
    ),
    "simulate broken model": (
        ["policy", "simulate", "--data", SAMPLE, "--model", "{broken_model}"],
        "cannot score",
    ),
    "simulate folder as data": (["policy", "simulate", "--data", "{dir}"], "nor a file"),
    "simulate bad row": (["policy", "simulate", "--data", "{bad_type}"], "'buy'"),
    "simulate empty data": (["policy", "simulate", "--data", "{header}"], "no events"),
    "simulate negative days": (["policy", "simulate", "--data", SAMPLE, "--days", "-1"], "above 0"),
    "schemas not a url": (["schemas", "register", "--registry", "notaurl"], "http(s)://"),
    "unknown command": (["frobnicate"], "invalid choice"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_bad_input_is_one_line(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv, words = CASES[case]
    paths = files(tmp_path)
    argv = [arg.format(**paths) for arg in argv]
    with pytest.raises(SystemExit) as exited:
        raise SystemExit(cli.main(argv))
    out, err = capsys.readouterr()
    assert exited.value.code == 2, out + err
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and err.strip().endswith(errors[0]), err
    assert "Traceback" not in out + err
    assert words in errors[0], errors[0]


def test_score_writes_what_an_analyst_needs(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["score", SAMPLE, "--cutoff", "2010-12-15", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(rows) > 10
    first = rows[0]
    assert set(first) == {
        "user_id", "p_return", "recency_days", "frequency", "purchases", "monetary",
        "cutoff", "horizon_days", "model_version",
    }  # fmt: skip
    assert first["cutoff"] == "2010-12-15T00:00:00+00:00" and first["horizon_days"] == 30.0
    assert all(0 < r["p_return"] < 1 and 13 < r["recency_days"] < 14.1 for r in rows)
    assert all(r["frequency"] >= r["purchases"] >= 0 for r in rows)
    assert sum(r["purchases"] >= 1 for r in rows) > len(rows) // 2
    assert sum(r["monetary"] for r in rows) > 0


def test_a_clickstream_log_is_scored_with_the_clickstream_model(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    log = tmp_path / "clicks.csv"
    lines = ["user_id,ts,type,item_id"]
    lines += [f"u{u},2020-01-0{1 + d}T0{h}:00:00Z,view,i{h}" for u in range(3) for d in range(3) for h in range(3)]  # fmt: skip
    log.write_text("\n".join(lines) + "\n")
    with caplog.at_level(logging.INFO):
        assert cli.main(["score", str(log), "--cutoff", "2020-01-04"]) == 0
    assert "a clickstream log" in caplog.text, caplog.text
    assert "clickstream/decay_step.onnx" in caplog.text
    caplog.clear()
    cutoff = ["--cutoff", "2020-01-04"]
    assert cli.main(["score", str(log), *cutoff, "--model", str(DEFAULT_MODEL_PATH)]) == 0
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warned and "use --model" in warned[0] and "clickstream" in warned[0], warned


def test_head_ends_quietly(shared_data: Path) -> None:
    """`score … | head`: the reader goes away after a few bytes; no traceback, exit 0.

    The Taobao slice's 58,732 rows are far more than a pipe holds, so the writer meets EPIPE.
    """
    log = shared_data / "taobao-userbehavior-slice" / "taobao_userbehavior_slice_2017-11-26.csv.xz"
    command = (
        f"{sys.executable} -m stream_app score {log} --cutoff 2017-11-26T03:00:00 --cpu"
        " | head -c 100 >/dev/null; exit ${PIPESTATUS[0]}"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    result = subprocess.run(
        ["bash", "-c", command], env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr and "BrokenPipe" not in result.stderr, result.stderr


def test_score_takes_a_dataset_name_as_every_command_does(shared_data: Path) -> None:
    from stream_app.commands.arguments import log_file
    from stream_app.data.sources import DATASETS

    for name, dataset in DATASETS.items():
        assert log_file(name) == shared_data / dataset.relative_path
    assert log_file(SAMPLE) == Path(SAMPLE)
