"""The deploy manifests as the tests read them: paths, the dashboard and its queries."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
import pytest
import yaml
from prometheus_client.metrics import MetricWrapperBase
from stream_app.settings import Settings
from stream_app.worker.metrics import Metrics


REPO = Path(__file__).resolve().parents[2]


DEPLOY = REPO / "deploy"


DASHBOARD = DEPLOY / "grafana" / "dashboards" / "decay-stream.json"


ALERT_RULES = DEPLOY / "prometheus" / "alerts.yml"


def dashboard() -> dict[str, Any]:
    return dict(json.loads(DASHBOARD.read_text()))


def dashboard_panels() -> list[dict[str, Any]]:
    panels = []
    for panel in dashboard()["panels"]:
        panels.append(panel)
        panels.extend(panel.get("panels", []))
    return panels


def dashboard_exprs() -> list[tuple[str, str]]:
    """(where, PromQL) for every panel target and template variable query."""
    exprs = []
    for panel in dashboard_panels():
        for target in panel.get("targets", []):
            exprs.append((f"panel {panel['title']!r} {target['refId']}", target["expr"]))
    for variable in dashboard()["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]
            exprs.append(
                (
                    f"variable {variable['name']}",
                    query["query"] if isinstance(query, dict) else query,
                )
            )
    return exprs
