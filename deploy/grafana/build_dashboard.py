"""Build deploy/grafana/dashboards/decay-stream.json from the panel list below.

    python deploy/grafana/build_dashboard.py           # write the dashboard
    python deploy/grafana/build_dashboard.py --check   # exit 1 if the file differs (tests, CI)

Edit the panels here, never the JSON. Every query selects `job=~"$job", instance=~"$instance"`:
the `job` variable lists the jobs that scrape decay-stream workers (`decay-stream` in the compose
stack and the PodMonitor, whatever a platform's own scrape config calls it), the `instance`
variable the workers of the chosen jobs. Panels are laid out left to right in their row.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

OUTPUT = Path(__file__).resolve().parent / "dashboards" / "decay-stream.json"
SELECTOR = 'job=~"$job", instance=~"$instance"'
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
GRID_WIDTH = 24
#: The selector of the outcome panels' numerators: the workers chosen, outcome `returned`.
RETURNED = f'{{{SELECTOR}, outcome="returned"}}'


MIN_UPLIFT_USERS = 200
MAX_UPLIFT_HALF_WIDTH = 0.05


def moment_sum(moment: str, group: str | None = None, by: str = "kind") -> str:
    """Σ over the workers of one of the per-user sums behind the uplift (worker's outcome_totals)."""
    group_matcher = f', group="{group}"' if group else ""
    return (
        f"sum by ({by}) (decay_action_outcome_user_moments"
        f'{{{SELECTOR}{group_matcher}, moment="{moment}"}})'
    )


def return_rate(group: str) -> str:
    """Σy / Σn of a group, per kind."""
    return f"({moment_sum('returned', group)} / {moment_sum('actions', group)})"


def clustered_variance(group: str) -> str:
    """(Σy² − 2pΣyn + p²Σn²) / (Σn)²: the variance of the group's rate, users as clusters."""
    p = return_rate(group)
    return (
        f"(({moment_sum('returned_sq', group)} - 2 * {p} * {moment_sum('returned_x_actions', group)}"
        f" + {p} ^ 2 * {moment_sum('actions_sq', group)}) / {moment_sum('actions', group)} ^ 2)"
    )


UPLIFT = f"({return_rate('treated')} - {return_rate('control')})"
UPLIFT_HALF_WIDTH = (
    f"(1.96 * sqrt({clustered_variance('treated')} + {clustered_variance('control')}))"
)
UPLIFT_READABLE = (
    f"({UPLIFT_HALF_WIDTH} <= bool {MAX_UPLIFT_HALF_WIDTH:g})"
    f" * ({moment_sum('users', 'treated')} >= bool {MIN_UPLIFT_USERS})"
    f" * ({moment_sum('users', 'control')} >= bool {MIN_UPLIFT_USERS})"
)


@dataclass(frozen=True)
class Panel:
    """One panel: kind (stat, table, timeseries), text, (PromQL with `{sel}`, legend) targets."""

    kind: str
    title: str
    description: str
    targets: list[tuple[str, str | None]]
    w: int = 12
    h: int = 8
    unit: str | None = None
    stacked: bool = False
    thresholds: list[tuple[str, float | None]] = field(default_factory=lambda: [("green", None)])
    mappings: dict[str, dict[str, str]] | None = None


@dataclass(frozen=True)
class Row:
    """A dashboard row and its panels."""

    title: str
    panels: list[Panel]


ROWS = [
    Row(
        "Overview",
        [
            Panel(
                "stat",
                "Workers up",
                "Scrape targets of job decay-stream that answer (up == 1).",
                [("sum(up{{sel}})", None)],
                w=4,
                h=4,
                unit="none",
                thresholds=[("red", None), ("green", 1)],
            ),
            Panel(
                "stat",
                "Events / s",
                "Valid events applied to user state per second, all workers.",
                [("sum(rate(decay_events_consumed_total{{sel}}[$__rate_interval]))", None)],
                w=4,
                h=4,
                unit="ops",
            ),
            Panel(
                "stat",
                "Consumer lag",
                "Messages of the events topic not yet processed, all partitions.",
                [("sum(decay_consumer_lag_messages{{sel}})", None)],
                w=4,
                h=4,
                unit="short",
                thresholds=[("green", None), ("orange", 1000), ("red", 100000)],
            ),
            Panel(
                "stat",
                "Users tracked",
                "Users with state in the workers' table partitions.",
                [("sum(decay_users_tracked{{sel}})", None)],
                w=4,
                h=4,
                unit="short",
            ),
            Panel(
                "stat",
                "Scheduled alerts",
                "Due alert times waiting in the workers' schedules.",
                [("sum(decay_schedule_size{{sel}})", None)],
                w=4,
                h=4,
                unit="short",
            ),
            Panel(
                "stat",
                "GPU fallback",
                "1 when a worker asked for CUDA but runs the model on the CPU.",
                [("max(decay_model_gpu_fallback{{sel}})", None)],
                w=4,
                h=4,
                unit="none",
                thresholds=[("green", None), ("red", 1)],
                mappings={"0": {"text": "no"}, "1": {"text": "CPU fallback"}},
            ),
            Panel(
                "table",
                "Execution provider in use",
                "ONNX Runtime execution provider of each worker (decay_model_provider == 1).",
                [("decay_model_provider{{sel}} == 1", None)],
                w=12,
                h=4,
            ),
            Panel(
                "table",
                "Model version",
                "The model serving alerts on each worker (decay_model_info).",
                [("decay_model_info{{sel}}", None)],
                w=12,
                h=4,
            ),
        ],
    ),
    Row(
        "Throughput",
        [
            Panel(
                "timeseries",
                "Events consumed by type",
                "Valid events applied per second, by event type.",
                [
                    (
                        "sum by (type) (rate(decay_events_consumed_total{{sel}}[$__rate_interval]))",
                        "{{type}}",
                    )
                ],
                w=12,
                h=8,
                unit="ops",
                stacked=True,
            ),
            Panel(
                "timeseries",
                "Events consumed by worker",
                "Valid events applied per second, by worker.",
                [
                    (
                        "sum by (instance) (rate(decay_events_consumed_total{{sel}}[$__rate_interval]))",
                        "{{instance}}",
                    )
                ],
                w=12,
                h=8,
                unit="ops",
                stacked=True,
            ),
            Panel(
                "timeseries",
                "Rejected events by reason",
                "Events refused by validation per second, by reason (they go to the dead-letter topic).",
                [
                    (
                        "sum by (reason) (rate(decay_events_rejected_total{{sel}}[$__rate_interval]))",
                        "{{reason}}",
                    )
                ],
                w=8,
                h=8,
                unit="ops",
                stacked=True,
            ),
            Panel(
                "timeseries",
                "Dead letters and failures",
                "Messages written to the dead-letter topic, and unexpected per-event errors (reason processing_error), per second.",
                [
                    (
                        "sum(rate(decay_dead_letter_messages_total{{sel}}[$__rate_interval]))",
                        "dead letters",
                    ),
                    ("sum(rate(decay_event_failures_total{{sel}}[$__rate_interval]))", "failures"),
                ],
                w=8,
                h=8,
                unit="ops",
            ),
            Panel(
                "timeseries",
                "Dead-letter ratio",
                "Share of handled messages that went to the dead-letter topic (alert above 5%).",
                [
                    (
                        "sum(rate(decay_dead_letter_messages_total{{sel}}[$__rate_interval])) / (sum(rate(decay_events_consumed_total{{sel}}[$__rate_interval])) + sum(rate(decay_dead_letter_messages_total{{sel}}[$__rate_interval])))",
                        "dead-letter ratio",
                    )
                ],
                w=8,
                h=8,
                unit="percentunit",
            ),
            Panel(
                "timeseries",
                "Duplicates skipped",
                "Events recognised as already applied (redelivery or repeated event_id), per second, by kind.",
                [
                    (
                        "sum by (kind) (rate(decay_events_duplicate_total{{sel}}[$__rate_interval]))",
                        "{{kind}}",
                    )
                ],
                w=12,
                h=8,
                unit="ops",
            ),
            Panel(
                "timeseries",
                "Ticks handled",
                "Due-time ticks handled per second, by outcome.",
                [
                    (
                        "sum by (outcome) (rate(decay_ticks_total{{sel}}[$__rate_interval]))",
                        "{{outcome}}",
                    )
                ],
                w=12,
                h=8,
                unit="ops",
                stacked=True,
            ),
        ],
    ),
    Row(
        "Lag",
        [
            Panel(
                "timeseries",
                "Consumer lag per partition",
                "Messages of the events topic not yet processed, per partition of the events topic.",
                [
                    (
                        "sum by (partition) (decay_consumer_lag_messages{{sel}})",
                        "partition {{partition}}",
                    )
                ],
                w=12,
                h=8,
                unit="short",
                stacked=True,
            ),
            Panel(
                "timeseries",
                "Event-time lag",
                "Now minus the event time of the last event processed, per worker (large during a replay of old data).",
                [("decay_event_time_lag_seconds{{sel}}", "{{instance}}")],
                w=12,
                h=8,
                unit="s",
            ),
        ],
    ),
    Row(
        "Model",
        [
            Panel(
                "timeseries",
                "Model step latency",
                "Wall time of one batched model step (quantiles over all workers).",
                [
                    (
                        "histogram_quantile(0.5, sum by (le) (rate(decay_model_step_seconds_bucket{{sel}}[$__rate_interval])))",
                        "p50",
                    ),
                    (
                        "histogram_quantile(0.95, sum by (le) (rate(decay_model_step_seconds_bucket{{sel}}[$__rate_interval])))",
                        "p95",
                    ),
                    (
                        "histogram_quantile(0.99, sum by (le) (rate(decay_model_step_seconds_bucket{{sel}}[$__rate_interval])))",
                        "p99",
                    ),
                ],
                w=8,
                h=8,
                unit="s",
            ),
            Panel(
                "timeseries",
                "Model batch size",
                "Events per batched model step: quantiles and mean.",
                [
                    (
                        "histogram_quantile(0.5, sum by (le) (rate(decay_model_batch_size_bucket{{sel}}[$__rate_interval])))",
                        "p50",
                    ),
                    (
                        "histogram_quantile(0.95, sum by (le) (rate(decay_model_batch_size_bucket{{sel}}[$__rate_interval])))",
                        "p95",
                    ),
                    (
                        "histogram_quantile(0.99, sum by (le) (rate(decay_model_batch_size_bucket{{sel}}[$__rate_interval])))",
                        "p99",
                    ),
                    (
                        "sum(rate(decay_model_batch_size_sum{{sel}}[$__rate_interval])) / sum(rate(decay_model_batch_size_count{{sel}}[$__rate_interval]))",
                        "mean",
                    ),
                ],
                w=8,
                h=8,
                unit="short",
            ),
            Panel(
                "timeseries",
                "Model steps / s",
                "Batched model steps per second, by worker.",
                [
                    (
                        "sum by (instance) (rate(decay_model_step_seconds_count{{sel}}[$__rate_interval]))",
                        "{{instance}}",
                    )
                ],
                w=8,
                h=8,
                unit="ops",
            ),
            Panel(
                "timeseries",
                "Execution provider",
                "1 for the ONNX Runtime execution provider each worker uses.",
                [("decay_model_provider{{sel}}", "{{instance}} {{provider}}")],
                w=8,
                h=8,
                unit="none",
            ),
            Panel(
                "timeseries",
                "GPU fallback by worker",
                "1 when CUDA was requested but the model runs on the CPU.",
                [("decay_model_gpu_fallback{{sel}}", "{{instance}}")],
                w=8,
                h=8,
                unit="none",
            ),
            Panel(
                "timeseries",
                "Model reloads",
                "Model artifacts loaded after start-up, by outcome.",
                [
                    (
                        "sum by (outcome) (increase(decay_model_reloads_total{{sel}}[$__rate_interval]))",
                        "{{outcome}}",
                    )
                ],
                w=8,
                h=8,
                unit="short",
            ),
        ],
    ),
    Row(
        "Alerts and actions",
        [
            Panel(
                "timeseries",
                "Alerts by level",
                "Decay alerts published per second, by level.",
                [
                    (
                        "sum by (level) (rate(decay_alerts_total{{sel}}[$__rate_interval]))",
                        "{{level}}",
                    )
                ],
                w=12,
                h=8,
                unit="ops",
                stacked=True,
            ),
            Panel(
                "timeseries",
                "Actions by kind and control group, and skipped by gate",
                "Activation actions published per second, by kind; control=true are held out. The skipped series: actions the policy asked for but a gate (cooldown, quiet hours, coupon budget) stopped.",
                [
                    (
                        "sum by (kind, control) (rate(decay_actions_total{{sel}}[$__rate_interval]))",
                        "{{kind}} control={{control}}",
                    ),
                    (
                        "sum by (kind, reason) (rate(decay_actions_skipped_total{{sel}}[$__rate_interval]))",
                        "skipped {{kind}} ({{reason}})",
                    ),
                ],
                w=12,
                h=8,
                unit="ops",
                stacked=True,
            ),
        ],
    ),
    Row(
        "Alert outcomes (every alert is a prediction of P(return within H))",
        [
            Panel(
                "timeseries",
                "Realized / predicted returns by level (1 d)",
                "Returns of alerted users over the returns the model predicted for them, per level, over the last day: 1 = calibrated. DecayCalibrationDrift fires outside 0.75..1.25.",
                [
                    (
                        f"sum by (level) (increase(decay_alert_outcomes_total{RETURNED}[1d]))"
                        " / sum by (level) (increase(decay_alert_predicted_returns_total{{sel}}[1d]))",
                        "{{level}}",
                    )
                ],
                w=8,
                h=8,
                unit="short",
            ),
            Panel(
                "timeseries",
                "Back within H after the alert, by level (7 d)",
                "Share of alerted users who came back within the horizon: the lower, the more an alert means 'will not come back' (1 minus its precision).",
                [
                    (
                        f"sum by (level) (increase(decay_alert_outcomes_total{RETURNED}[7d]))"
                        " / sum by (level) (increase(decay_alert_outcomes_total{{sel}}[7d]))",
                        "{{level}}",
                    )
                ],
                w=8,
                h=8,
                unit="percentunit",
            ),
            Panel(
                "timeseries",
                "Brier score of alerts (7 d) and calibration intercept shift",
                "Mean squared error of the predicted P against what happened, over resolved alerts; and the shift the online correction added to the calibration intercept (DECAY_CALIBRATION_ONLINE).",
                [
                    (
                        "sum(increase(decay_alert_squared_error_total{{sel}}[7d]))"
                        " / sum(increase(decay_alert_outcomes_total{{sel}}[7d]))",
                        "Brier",
                    ),
                    ("decay_calibration_intercept_shift{{sel}}", "shift {{instance}}"),
                ],
                w=8,
                h=8,
                unit="short",
            ),
            Panel(
                "timeseries",
                "Calibration by predicted-probability bucket (7 d)",
                "Per tenth of the predicted P: mean predicted P and the realized return rate of the alerts resolved in it. Calibrated: the two lines of a bucket meet.",
                [
                    (
                        "sum by (probability_bucket) (increase(decay_alert_predicted_returns_total{{sel}}[7d]))"
                        " / sum by (probability_bucket) (increase(decay_alert_outcomes_total{{sel}}[7d]))",
                        "predicted {{probability_bucket}}",
                    ),
                    (
                        f"sum by (probability_bucket) (increase(decay_alert_outcomes_total{RETURNED}[7d]))"
                        " / sum by (probability_bucket) (increase(decay_alert_outcomes_total{{sel}}[7d]))",
                        "realized {{probability_bucket}}",
                    ),
                ],
                w=12,
                h=8,
                unit="percentunit",
            ),
            Panel(
                "timeseries",
                "Return rate after an action: treated vs control (30 d)",
                "Per action kind, the share of users who came back within H after the alert the action followed, for treated users and for the randomized control group: the gap is the uplift.",
                [
                    (
                        f"sum by (kind, group) (increase(decay_action_outcomes_total{RETURNED}[30d]))"
                        " / sum by (kind, group) (increase(decay_action_outcomes_total{{sel}}[30d]))",
                        "{{kind}} {{group}}",
                    )
                ],
                w=12,
                h=8,
                unit="percentunit",
            ),
            Panel(
                "timeseries",
                "Uplift per action kind and its 95% interval, clustered by user",
                "Treated minus control return rate within H, over every counted action of the users held (a user's repeated actions count as one cluster, not as independent draws), with the interval's bounds. Read it only where the panel beside says so.",
                [
                    (UPLIFT, "{{kind}} uplift"),
                    (f"{UPLIFT} - {UPLIFT_HALF_WIDTH}", "{{kind}} low"),
                    (f"{UPLIFT} + {UPLIFT_HALF_WIDTH}", "{{kind}} high"),
                ],
                w=12,
                h=8,
                unit="percentunit",
            ),
            Panel(
                "table",
                "Uplift sample sizes: users per group",
                "Users with a counted action of each kind, treated and control: the clusters the interval is made of.",
                [(moment_sum("users", by="kind, group"), None)],
                w=6,
                h=8,
            ),
            Panel(
                "stat",
                "Uplift readable?",
                f"Per action kind: readable once each group has {MIN_UPLIFT_USERS} users or more and the 95% interval is at most ±{MAX_UPLIFT_HALF_WIDTH:g} wide; before that the uplift is too small a sample to read.",
                [(UPLIFT_READABLE, "{{kind}}")],
                w=6,
                h=8,
                unit="none",
                thresholds=[("orange", None), ("green", 1)],
                mappings={"0": {"text": "too small to read"}, "1": {"text": "readable"}},
            ),
        ],
    ),
    Row(
        "State",
        [
            Panel(
                "timeseries",
                "Users tracked by worker",
                "Users with state in each worker's table partitions.",
                [("decay_users_tracked{{sel}}", "{{instance}}")],
                w=12,
                h=8,
                unit="short",
                stacked=True,
            ),
            Panel(
                "timeseries",
                "Schedule size by worker",
                "Due alert times scheduled on each worker's partitions.",
                [("decay_schedule_size{{sel}}", "{{instance}}")],
                w=12,
                h=8,
                unit="short",
                stacked=True,
            ),
        ],
    ),
]


def target_json(panel: Panel, ref: str, expr: str, legend: str | None) -> dict[str, Any]:
    """A Prometheus query of `panel` (instant for stat and table, range for time series)."""
    target: dict[str, Any] = {
        "datasource": DATASOURCE, "expr": expr.replace("{sel}", SELECTOR), "refId": ref,
    }  # fmt: skip
    if panel.kind == "timeseries":
        target["range"] = True
    else:
        target["instant"] = True
    if panel.kind == "table":
        target["format"] = "table"
    if legend is not None:
        target["legendFormat"] = legend
    return target


def field_config(panel: Panel) -> dict[str, Any]:
    """Units, thresholds and drawing style by panel kind."""
    if panel.kind == "table":
        return {"defaults": {}, "overrides": []}
    if panel.kind == "stat":
        steps = [{"color": color, "value": value} for color, value in panel.thresholds]
        mappings = [{"type": "value", "options": panel.mappings}] if panel.mappings else []
        defaults: dict[str, Any] = {
            "unit": panel.unit, "thresholds": {"mode": "absolute", "steps": steps},
            "mappings": mappings,
        }  # fmt: skip
        return {"defaults": defaults, "overrides": []}
    stacking = {"mode": "normal" if panel.stacked else "none", "group": "A"}
    custom = {"drawStyle": "line", "lineWidth": 1, "fillOpacity": 10, "stacking": stacking}
    return {"defaults": {"unit": panel.unit, "min": 0, "custom": custom}, "overrides": []}


OPTIONS: dict[str, dict[str, Any]] = {
    "stat": {
        "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
        "colorMode": "value", "graphMode": "area", "textMode": "auto",
    },
    "table": {"showHeader": True},
    "timeseries": {
        "legend": {"displayMode": "table", "placement": "bottom", "calcs": ["lastNotNull", "max"]},
        "tooltip": {"mode": "multi", "sort": "desc"},
    },
}  # fmt: skip
TABLE_COLUMNS_HIDDEN = {"Time": True, "Value": True, "__name__": True, "job": True}


def panel_json(panel: Panel, panel_id: int, grid: dict[str, int]) -> dict[str, Any]:
    """The Grafana JSON of one panel at `grid`."""
    out: dict[str, Any] = {
        "type": panel.kind, "title": panel.title, "description": panel.description,
        "id": panel_id, "datasource": DATASOURCE, "gridPos": grid,
        "targets": [
            target_json(panel, chr(ord("A") + i), expr, legend)
            for i, (expr, legend) in enumerate(panel.targets)
        ],
    }  # fmt: skip
    if panel.kind == "table":
        organize = {"id": "organize", "options": {"excludeByName": TABLE_COLUMNS_HIDDEN}}
        out["transformations"] = [organize]
    out["fieldConfig"] = field_config(panel)
    out["options"] = OPTIONS[panel.kind]
    return out


def panels_json(rows: list[Row]) -> list[dict[str, Any]]:
    """Rows and their panels, left to right, a new line when a row's width is full."""
    out: list[dict[str, Any]] = []
    y = 0
    for row in rows:
        out.append({
            "type": "row", "title": row.title, "id": len(out) + 1, "collapsed": False,
            "gridPos": {"h": 1, "w": GRID_WIDTH, "x": 0, "y": y}, "panels": [],
        })  # fmt: skip
        x, y, line_height = 0, y + 1, 0
        for panel in row.panels:
            if x + panel.w > GRID_WIDTH:
                x, y, line_height = 0, y + line_height, 0
            grid = {"h": panel.h, "w": panel.w, "x": x, "y": y}
            out.append(panel_json(panel, len(out) + 1, grid))
            x, line_height = x + panel.w, max(line_height, panel.h)
        y += line_height
    return out


def variables() -> list[dict[str, Any]]:
    """Datasource, job (the scrape jobs of decay-stream workers) and instance."""

    def query(name: str, label: str, promql: str, default: str | None) -> dict[str, Any]:
        current = {"text": "All", "value": "$__all"} if default is None else {
            "text": default, "value": default}  # fmt: skip
        return {
            "name": name, "label": label, "type": "query", "datasource": DATASOURCE,
            "definition": promql, "query": {"query": promql, "refId": name},
            "includeAll": True, "multi": True, "allValue": ".*", "current": current,
            "refresh": 2, "sort": 1, "hide": 0,
        }  # fmt: skip

    return [
        {"name": "datasource", "label": "Prometheus", "type": "datasource", "query": "prometheus",
         "current": {"text": "Prometheus", "value": "prometheus"}, "hide": 0, "refresh": 1},
        query("job", "Job", "label_values(decay_schedule_size, job)", "decay-stream"),
        query("instance", "Worker", 'label_values(up{job=~"$job"}, instance)', None),
    ]  # fmt: skip


def dashboard() -> dict[str, Any]:
    """The whole dashboard."""
    return {
        "uid": "decay-stream", "title": "decay-stream",
        "description": "Interest-decay workers: throughput, lag, model, alerts and actions.",
        "tags": ["decay-stream", "kafka", "faust"], "timezone": "utc", "editable": True,
        "graphTooltip": 1, "refresh": "10s", "schemaVersion": 39, "version": 1,
        "time": {"from": "now-1h", "to": "now"}, "annotations": {"list": []}, "links": [],
        "templating": {"list": variables()}, "panels": panels_json(ROWS),
    }  # fmt: skip


def rendered() -> str:
    """The dashboard file's text."""
    return json.dumps(dashboard(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write the dashboard, or with --check say whether the file is up to date."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the file differs")
    args = parser.parse_args(argv)
    text = rendered()
    if args.check:
        if OUTPUT.read_text() != text:
            print(f"{OUTPUT} is stale: run python {Path(__file__).name}", file=sys.stderr)
            return 1
        return 0
    OUTPUT.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
