"""DecayCalibrationDrift on the counters the worker exports for literal outcome streams.

Each stream (tests/outcome_streams.py) starts at a deployment and goes through the worker's
own outcome functions; its hourly scrapes become the input series of a promtool rule test
against deploy/prometheus/alerts.yml. A calibrated stream must never page, not even in the
first H days (when returns are known and non-returns not yet); a real shift must page once
its alerts' horizon has passed.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.manifests import ALERT_RULES
from tests.outcome_streams import OutcomeStream, hourly_totals, scrape

JOB = {"job": "decay-stream", "instance": "w1"}


def input_series(stream: OutcomeStream) -> list[dict[str, str]]:
    """The stream's counters, one sample an hour from the deployment (0 before a series exists)."""
    hourly = [scrape(totals) for _, totals in hourly_totals(stream)]
    names = sorted({name for samples in hourly for name in samples})
    series = []
    for name in names:
        values = [0.0] + [samples.get(name, 0.0) for samples in hourly]
        metric, labels = name.split("{", 1)
        job = ",".join(f'{k}="{v}"' for k, v in JOB.items())
        series.append(
            {
                "series": f"{metric}{{{job},{labels}",
                "values": " ".join(f"{v:g}" for v in values),
            }
        )
    return series


def drift_rule() -> dict[str, Any]:
    groups = yaml.safe_load(ALERT_RULES.read_text())["groups"]
    rules = [rule for group in groups for rule in group["rules"]]
    return next(rule for rule in rules if rule.get("alert") == "DecayCalibrationDrift")


def drift_alert(percent_off: str) -> dict[str, Any]:
    """The page expected for the `warning` level, `percent_off` as humanizePercentage writes it."""
    return {
        "exp_labels": {"severity": "warning", "job": "decay-stream", "level": "warning"},
        "exp_annotations": {
            "summary": f"warning alerts: realized returns are {percent_off} off the predicted ones",
            "description": drift_rule()["annotations"]["description"],
        },
    }


def run_promtool(tmp_path: Path, tests: list[dict[str, Any]]) -> str:
    binary = shutil.which("promtool")
    if binary is None:
        pytest.skip("promtool not installed (Debian package `prometheus`; .ci/run installs it)")
    path = tmp_path / "drift.test.yml"
    body = {"rule_files": [str(ALERT_RULES)], "evaluation_interval": "10m", "tests": tests}
    path.write_text(yaml.safe_dump(body, sort_keys=False))
    result = subprocess.run(
        [binary, "test", "rules", str(path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_no_drift_page_for_a_calibrated_stream_from_its_deployment_on(tmp_path: Path) -> None:
    stream = OutcomeStream(hours=40 * 24, returning=0.25)
    checks = [
        {"eval_time": when, "alertname": "DecayCalibrationDrift", "exp_alerts": []}
        for when in ("6d", "12d", "29d", "31d", "33d", "39d")
    ]
    test = {"interval": "1h", "input_series": input_series(stream), "alert_rule_test": checks}
    assert "SUCCESS" in run_promtool(tmp_path, [test])


def test_a_real_shift_pages_once_its_horizon_passed(tmp_path: Path) -> None:
    stream = OutcomeStream(hours=40 * 24, returning=0.5)  # twice the predicted 0.25
    quiet = [
        {"eval_time": when, "alertname": "DecayCalibrationDrift", "exp_alerts": []}
        for when in ("6d", "29d")  # returns known, non-returns not yet: nothing is counted
    ]
    paging = [
        {
            "eval_time": when,
            "alertname": "DecayCalibrationDrift",
            "exp_alerts": [drift_alert("100%")],
        }
        for when in ("33d", "39d")
    ]
    test = {
        "interval": "1h",
        "input_series": input_series(stream),
        "alert_rule_test": quiet + paging,
    }
    assert "SUCCESS" in run_promtool(tmp_path, [test])
