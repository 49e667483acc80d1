"""The dashboard's uplift queries, run by promtool on what the worker exports for literal users.

Treated and control users with several actions each go through `OutcomeTotals` (the worker's
sums of the users' tallies); their scrape is the input of a promtool test whose recording rules
are the dashboard's own uplift expressions. The results must equal the uplift and its interval
computed here from the users directly, each user one cluster.
"""

from __future__ import annotations

import math
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from stream_app.state import UserState
from stream_app.state.outcomes import ActionTallyKey, Outcomes
from stream_app.worker.outcome_totals import OutcomeTotals
from tests.deploy.manifests import DEPLOY
from tests.outcome_streams import scrape

sys.path.insert(0, str(DEPLOY / "grafana"))
import build_dashboard  # noqa: E402

JOB = 'job="decay-stream",instance="w1",'
#: (actions, returned) per user: treated users come back more often than control users.
TREATED = [(1 + i % 3, (1 + i % 3) if i % 3 == 0 else 0) for i in range(300)]
CONTROL = [(1 + i % 2, (1 + i % 2) if i % 5 == 0 else 0) for i in range(250)]


def totals(groups: dict[bool, list[tuple[int, int]]]) -> OutcomeTotals:
    live = OutcomeTotals()
    for control, users in groups.items():
        for n, y in users:
            outcomes = Outcomes(actions=((ActionTallyKey("push", control), (n, y)),))
            live.update(0, None, UserState(events_total=1, outcomes=outcomes))
    return live


def rate_and_variance(users: list[tuple[int, int]]) -> tuple[float, float]:
    """Σy / Σn and its variance with each user a cluster: Σ(y − p·n)² / (Σn)²."""
    n = sum(a for a, _ in users)
    p = sum(y for _, y in users) / n
    return p, sum((y - p * a) ** 2 for a, y in users) / n**2


def promql(expr: str) -> str:
    """A dashboard expression with its template variables filled in."""
    return expr.replace('"$job"', '"decay-stream"').replace('"$instance"', '".*"')


def run_promtool(tmp_path: Path, rules: dict[str, str], test: dict[str, Any]) -> None:
    binary = shutil.which("promtool")
    if binary is None:
        pytest.skip("promtool not installed (Debian package `prometheus`; .ci/run installs it)")
    group = {
        "name": "uplift",
        "rules": [{"record": k, "expr": promql(v)} for k, v in rules.items()],
    }
    (tmp_path / "rules.yml").write_text(yaml.safe_dump({"groups": [group]}))
    body = {
        "rule_files": [str(tmp_path / "rules.yml")],
        "evaluation_interval": "1m",
        "tests": [test],
    }
    (tmp_path / "test.yml").write_text(yaml.safe_dump(body, sort_keys=False))
    result = subprocess.run(
        [binary, "test", "rules", str(tmp_path / "test.yml")],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def series(live: OutcomeTotals) -> list[dict[str, str]]:
    return [
        {"series": name.replace("{", "{" + JOB, 1), "values": f"{value:g}x5"}
        for name, value in scrape(live).items()
        if name.startswith("decay_action_outcome_user_moments")
    ]


def test_the_dashboard_uplift_and_its_clustered_interval(tmp_path: Path) -> None:
    pt, vt = rate_and_variance(TREATED)
    pc, vc = rate_and_variance(CONTROL)
    half = 1.96 * math.sqrt(vt + vc)
    rules = {  # to 1e-9: promtool compares floats exactly
        "uplift": f"round({build_dashboard.UPLIFT} * 1e9)",
        "uplift_half_width": f"round({build_dashboard.UPLIFT_HALF_WIDTH} * 1e9)",
        "uplift_readable": build_dashboard.UPLIFT_READABLE,
        "users": build_dashboard.moment_sum("users", by="kind, group"),
    }
    expected = {
        "uplift": [({"kind": "push"}, round((pt - pc) * 1e9))],
        "uplift_half_width": [({"kind": "push"}, round(half * 1e9))],
        "uplift_readable": [({"kind": "push"}, 1.0 if half <= 0.05 else 0.0)],
        "users": [
            ({"kind": "push", "group": "control"}, len(CONTROL)),
            ({"kind": "push", "group": "treated"}, len(TREATED)),
        ],
    }
    assert half > 0.05  # 550 users with these rates: still too small to read
    test = {
        "interval": "1m",
        "input_series": series(totals({False: TREATED, True: CONTROL})),
        "promql_expr_test": [
            {
                "expr": name,
                "eval_time": "2m",
                "exp_samples": [
                    {"labels": name + "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}",
                     "value": value}
                    for labels, value in samples
                ],
            }
            for name, samples in expected.items()
        ],
    }  # fmt: skip
    run_promtool(tmp_path, rules, test)


def test_enough_users_make_it_readable(tmp_path: Path) -> None:
    many = {False: TREATED * 20, True: CONTROL * 20}
    pt, vt = rate_and_variance(many[False])
    pc, vc = rate_and_variance(many[True])
    assert 1.96 * math.sqrt(vt + vc) <= 0.05
    test = {
        "interval": "1m",
        "input_series": series(totals(many)),
        "promql_expr_test": [
            {
                "expr": "uplift_readable",
                "eval_time": "2m",
                "exp_samples": [{"labels": 'uplift_readable{kind="push"}', "value": 1}],
            }
        ],
    }
    run_promtool(tmp_path, {"uplift_readable": build_dashboard.UPLIFT_READABLE}, test)
