"""deploy/ checked against the worker: metric names, naming conventions, configs and manifests.

Every PromQL expression in the dashboard and the alert rules may only name metrics that
`stream_app.worker.metrics.Metrics` exports (plus `up`); promtool, docker compose and the Kubernetes
schemas run where they are installed.
"""

from __future__ import annotations

import fnmatch
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
from tests.deploy.manifests import REPO, DEPLOY, DASHBOARD, ALERT_RULES, dashboard, dashboard_panels, dashboard_exprs

PROMETHEUS_CONFIG = DEPLOY / "prometheus" / "prometheus.yml"
ALERT_RULE_TESTS = DEPLOY / "prometheus" / "alerts.test.yml"
COMPOSE = DEPLOY / "docker-compose.yml"
K8S = DEPLOY / "k8s"

#: Series Prometheus itself adds to every scrape target.
SCRAPE_SERIES = {"up"}
SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("", "_sum", "_count", "_created"),
    "info": ("_info",),
}
SETTINGS_ENV = {f"DECAY_{name.upper()}" for name in Settings.model_fields}
FORBIDDEN_LABELS = re.compile(
    r"(^|_)(user|users|userid|user_id|uid|customer|customer_id|session)(_|$)"
)


# ---------------------------------------------------------------- the worker's metrics


def exported_families() -> dict[str, str]:
    """Metric family name → type, from the worker's registry."""
    return {family.name: family.type for family in Metrics().registry.collect()}


def exported_series_names() -> set[str]:
    """Every sample name a scrape of the worker can contain, plus Prometheus's own `up`."""
    names = set(SCRAPE_SERIES)
    for name, kind in exported_families().items():
        names.update(name + suffix for suffix in SUFFIXES[kind])
    return names


def collectors() -> Iterator[tuple[str, MetricWrapperBase]]:
    for attribute, value in vars(Metrics()).items():
        if isinstance(value, MetricWrapperBase):
            yield attribute, value


# ---------------------------------------------------------------- PromQL metric names

_STRING = re.compile(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGES = re.compile(r"\[[^\[\]]*\]")
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_TEMPLATE_VARIABLE = re.compile(r"\$\{[^}]*\}|\$\w+")
_IDENTIFIER = re.compile(r"(?<![\w.:])([a-zA-Z_:][\w:]*)(\s*\()?")
_LABEL_VALUES = re.compile(r"^\s*label_values\(\s*(.*?)\s*(?:,\s*\w+\s*)?\)\s*$", re.S)
KEYWORDS = {
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "and",
    "or",
    "unless",
    "offset",
    "atan2",
    "inf",
    "nan",
}


def metric_names(expr: str) -> set[str]:
    """Metric names an expression selects (Grafana template variables allowed)."""
    expr = _TEMPLATE_VARIABLE.sub("1", _STRING.sub('""', expr))
    if match := _LABEL_VALUES.match(expr):
        expr = match.group(1) or ""
    expr = _RANGES.sub("", _MATCHERS.sub("", expr))
    while (stripped := _GROUPING.sub(" ", expr)) != expr:
        expr = stripped
    names = set()
    for match in _IDENTIFIER.finditer(expr):
        name, call = match.groups()
        if call is None and name.lower() not in KEYWORDS:
            names.add(name)
    return names


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ('up{job="decay-stream"} == 0', {"up"}),
        (
            'sum by (type) (rate(decay_events_consumed_total{instance=~"$instance"}[$__rate_interval]))',
            {"decay_events_consumed_total"},
        ),
        (
            "histogram_quantile(0.99, sum by (le) (rate(decay_model_step_seconds_bucket[5m])))",
            {"decay_model_step_seconds_bucket"},
        ),
        (
            "deriv(sum by (job) (lag_messages)[15m:1m]) > 0 and on (job) x offset 5m",
            {"lag_messages", "x"},
        ),
        ("sum(a) by (job) / ignoring (type) group_left (le) b > bool 1e-9", {"a", "b"}),
        ('label_values(up{job="decay-stream"}, instance)', {"up"}),
        ('absent(up{job="x", le="0.5"})', {"up"}),
    ],
)
def test_metric_names_are_read_from_promql(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names


# ---------------------------------------------------------------- naming conventions


#: The client library's standard process and garbage-collector collectors.
STANDARD_PREFIXES = ("process_", "python_gc_")


def test_metric_names_follow_prometheus_conventions() -> None:
    families = exported_families()
    assert families, "the worker exports no metric"
    for name, kind in families.items():
        if name.startswith(STANDARD_PREFIXES):
            continue
        assert re.fullmatch(r"decay_[a-z][a-z0-9_]*", name), name
        assert not re.search(r"_(ms|millis|milliseconds|minutes|hours|days|percent)(_|$)", name), (
            f"{name}: use base units (seconds, ratio 0..1)"
        )
        if kind != "counter":
            assert not name.endswith("_total"), f"{name}: only counters end in _total"
    for sample in exported_series_names() - SCRAPE_SERIES:
        if sample.endswith("_total"):
            assert families.get(sample.removesuffix("_total")) == "counter", sample


def test_counters_end_in_total_and_durations_in_seconds() -> None:
    for attribute, collector in collectors():
        name = collector._name
        kind = collector._type
        text = collector._documentation.lower()
        if kind == "counter":
            # prometheus_client always exposes counters with `_total`; the attribute says so too.
            assert attribute.endswith("_total"), f"Metrics.{attribute} is a counter"
        if re.search(r"\b(latency|duration|wall time|time of|elapsed)\b", text) or re.search(
            r"(latency|duration|elapsed|_time)$", name
        ):
            assert name.endswith("_seconds"), f"{name} measures time: end it in _seconds"


def test_no_metric_is_labelled_with_user_ids() -> None:
    for _, collector in collectors():
        for label in collector._labelnames:
            assert not FORBIDDEN_LABELS.search(label.lower()), (
                f"{collector._name} has label {label!r}: unbounded, personal data"
            )
            assert label not in {"item_id", "event_id", "alert_id", "action_id"}, label


# ---------------------------------------------------------------- Grafana dashboard








def test_dashboard_is_a_grafana_dashboard() -> None:
    board = dashboard()
    assert board["uid"] == "decay-stream" and board["title"]
    panels = dashboard_panels()
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids)), "panel ids repeat"
    for panel in panels:
        if panel["type"] == "row":
            continue
        assert panel["targets"], panel["title"]
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert panel["description"], panel["title"]
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]


def test_dashboard_queries_name_only_exported_metrics() -> None:
    exported = exported_series_names()
    for where, expr in dashboard_exprs():
        names = metric_names(expr)
        assert names, f"{where}: no metric in {expr!r}"
        assert names <= exported, f"{where}: {sorted(names - exported)} not exported by the worker"


def test_dashboard_covers_the_operational_questions() -> None:
    used = set().union(*(metric_names(expr) for _, expr in dashboard_exprs()))
    required = {
        "up",
        "decay_events_consumed_total",  # throughput
        "decay_consumer_lag_messages",  # lag per partition
        "decay_event_time_lag_seconds",
        "decay_model_step_seconds_bucket",  # latency quantiles
        "decay_model_batch_size_bucket",
        "decay_alerts_total",
        "decay_actions_total",
        "decay_events_rejected_total",
        "decay_dead_letter_messages_total",
        "decay_event_failures_total",
        "decay_model_provider",
        "decay_model_gpu_fallback",
        "decay_users_tracked",
        "decay_schedule_size",
    }
    assert required <= used, f"dashboard lacks {sorted(required - used)}"


# ---------------------------------------------------------------- Prometheus


def all_rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(ALERT_RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def alert_rules() -> list[dict[str, Any]]:
    return [rule for rule in all_rules() if "alert" in rule]


def recorded_names() -> set[str]:
    return {rule["record"] for rule in all_rules() if "record" in rule}


def test_alert_rules_name_only_exported_metrics() -> None:
    known = exported_series_names() | recorded_names()
    for rule in all_rules():
        name = rule.get("alert") or rule["record"]
        names = metric_names(rule["expr"])
        assert names, name
        assert names <= known, f"{name}: {sorted(names - known)} not exported"


def test_recording_rules_follow_the_level_metric_operations_convention() -> None:
    for name in recorded_names():
        assert re.fullmatch(r"[a-z_]+:decay_[a-z_]+:[a-z0-9_]+", name), name


def test_alert_rules_cover_the_failure_modes() -> None:
    rules = {rule["alert"]: rule for rule in alert_rules()}
    assert {
        "DecayWorkerDown",
        "DecayConsumerLagGrowing",
        "DecayDeadLetterRateHigh",
        "DecayNoEventsConsumed",
        "DecayGpuFallback",
        "DecayEventFailures",
    } <= set(rules)
    assert rules["DecayWorkerDown"]["expr"].startswith("up{")
    assert "decay_model_gpu_fallback == 1" in rules["DecayGpuFallback"]["expr"]
    for name, rule in rules.items():
        assert rule["labels"]["severity"] in {"warning", "critical"}, name
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], name
        assert "for" in rule, f"{name} fires on a single evaluation"


def test_scrape_job_is_the_one_rules_and_dashboard_select() -> None:
    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    jobs = {job["job_name"] for job in config["scrape_configs"]}
    assert jobs == {"decay-stream"}
    assert config["rule_files"] == [ALERT_RULES.name]
    selected = set(re.findall(r'job="([^"]+)"', ALERT_RULES.read_text() + DASHBOARD.read_text()))
    assert selected == jobs


def promtool(*args: str) -> str:
    binary = shutil.which("promtool")
    if binary is None:
        pytest.skip("promtool not installed (Debian package `prometheus`; .ci/run installs it)")
    result = subprocess.run(
        [binary, *args], capture_output=True, text=True, check=False, timeout=60
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    return output


def test_promtool_check_config() -> None:
    assert "SUCCESS" in promtool("check", "config", str(PROMETHEUS_CONFIG))


def test_promtool_check_rules() -> None:
    assert "SUCCESS" in promtool("check", "rules", str(ALERT_RULES))


def test_promtool_rule_unit_tests() -> None:
    assert "SUCCESS" in promtool("test", "rules", str(ALERT_RULE_TESTS))


# ---------------------------------------------------------------- docker compose


def compose() -> dict[str, Any]:
    return dict(yaml.safe_load(COMPOSE.read_text()))


def env_of(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {key: str(value) for key, value in env.items()}


def test_compose_stack_wires_kafka_workers_prometheus_grafana() -> None:
    services = compose()["services"]
    assert set(services) >= {"kafka", "worker-1", "worker-2", "prometheus", "grafana"}

    kafka = env_of(services["kafka"])
    assert services["kafka"]["image"].startswith("apache/kafka:")
    assert "controller" in kafka["KAFKA_PROCESS_ROLES"], "KRaft: the broker is its own controller"
    assert not any("ZOOKEEPER" in key for key in kafka)
    advertised = dict(
        reversed(listener.split("://", 1))
        for listener in kafka["KAFKA_ADVERTISED_LISTENERS"].split(",")
    )

    scrape = yaml.safe_load(PROMETHEUS_CONFIG.read_text())["scrape_configs"][0]
    targets = {t for static in scrape["static_configs"] for t in static["targets"]}
    host_ports = set()
    for name in ("worker-1", "worker-2"):
        worker = services[name]
        env = env_of(worker)
        assert set(env) <= SETTINGS_ENV, f"{name}: unknown settings {set(env) - SETTINGS_ENV}"
        assert advertised.get(env["DECAY_BOOTSTRAP_SERVERS"]) == "PLAINTEXT"
        assert env["DECAY_HTTP_HOST"] == "0.0.0.0"
        assert f"{worker.get('hostname', name)}:{env['DECAY_HTTP_PORT']}" in targets
        assert worker["depends_on"]["kafka"]["condition"] == "service_healthy"
        assert worker["build"]["dockerfile"] == "deploy/Dockerfile"
        host_ports.update(port.split(":")[0] for port in worker["ports"])
    assert len(host_ports) == 2, "the two workers need different host ports"
    assert (
        env_of(services["worker-1"])["DECAY_APP_ID"] == env_of(services["worker-2"])["DECAY_APP_ID"]
    )

    prometheus = services["prometheus"]
    assert "./prometheus:/etc/prometheus:ro" in prometheus["volumes"]
    assert "--config.file=/etc/prometheus/prometheus.yml" in prometheus["command"]

    mounts = dict(volume.split(":")[:2] for volume in services["grafana"]["volumes"])
    for source in mounts:
        if source.startswith("./"):
            assert (DEPLOY / source).exists(), source
    provider = yaml.safe_load(
        (DEPLOY / "grafana/provisioning/dashboards/decay-stream.yml").read_text()
    )["providers"][0]
    assert mounts["./grafana/dashboards"] == provider["options"]["path"]
    datasource = yaml.safe_load(
        (DEPLOY / "grafana/provisioning/datasources/prometheus.yml").read_text()
    )["datasources"][0]
    assert datasource["uid"] == "prometheus" and datasource["url"] == "http://prometheus:9090"


def test_docker_compose_config_accepts_the_file() -> None:
    if (
        shutil.which("docker")
        and subprocess.run(
            ["docker", "compose", "version"], capture_output=True, check=False
        ).returncode
        == 0
    ):
        command = ["docker", "compose"]
    elif shutil.which("docker-compose"):
        command = ["docker-compose"]
    else:
        pytest.skip("neither `docker compose` nor `docker-compose` is installed")
    result = subprocess.run(
        [*command, "-f", str(COMPOSE), "config", "--quiet"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        cwd=DEPLOY,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_worker_images() -> None:
    cpu = (DEPLOY / "Dockerfile").read_text()
    gpu = (DEPLOY / "Dockerfile.gpu").read_text()
    assert "ARG PYTHON_IMAGE=python:3.11-slim" in cpu
    # CUDA 13 and cuDNN 9 come from the [gpu] extra's wheels, not from the base image.
    assert re.search(r"ARG CUDA_IMAGE=nvidia/cuda:13\.[\d.]+-base-", gpu)
    assert "COPY deploy/requirements/cpu.lock " in cpu and "COPY deploy/requirements/gpu.lock " in gpu
    for name, text in (("Dockerfile", cpu), ("Dockerfile.gpu", gpu)):
        # Locked: the dependencies from the hashed lock, the package itself without resolving.
        assert "pip install --require-hashes --no-deps -r requirements.lock" in text
        assert "pip install --no-deps --no-build-isolation ." in text
        assert not re.search(r"pip install (?!--)", text), "an unlocked pip install"
        assert "EXPOSE 6066" in text and "USER 10001" in text
        ignore = (DEPLOY / f"{name}.dockerignore").read_text()
        for source in re.findall(r"^COPY (?!--)(\S+)", text, re.M):
            assert any(
                fnmatch.fnmatch(source, line[1:]) or source == line[1:].removesuffix("/**")
                for line in ignore.splitlines()
                if line.startswith("!")
            ), f"{name}: {source} is not in the build context ({name}.dockerignore)"
        for name in re.findall(r"\b(DECAY_[A-Z_]+)=", text):
            assert name in SETTINGS_ENV, name
        for source in re.findall(r"^COPY (?!--)(\S+)", text, re.M):
            assert (REPO / source).exists(), source


# ---------------------------------------------------------------- Kubernetes

#: Kinds outside the core API: no schema ships with kubernetes-validate, checked by hand below.
CUSTOM_KINDS = {
    "PodMonitor",
    "PrometheusRule",
    "ScaledObject",
    "TriggerAuthentication",
    "Kustomization",
    "Component",
}


def k8s_documents() -> list[tuple[Path, dict[str, Any]]]:
    docs = []
    for path in sorted(K8S.rglob("*.yaml")):
        docs.extend((path, doc) for doc in yaml.safe_load_all(path.read_text()) if doc)
    return docs


def k8s_objects(kind: str) -> list[dict[str, Any]]:
    return [doc for _, doc in k8s_documents() if doc["kind"] == kind]


def config_map() -> dict[str, str]:
    """The worker settings of base/config.env (the configMapGenerator's source)."""
    assert not k8s_objects("ConfigMap"), "settings belong in base/config.env (generated)"
    data = {}
    for line in (K8S / "base" / "config.env").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, value = line.partition("=")
            data[name] = value
    return data


def test_k8s_manifests_are_namespace_agnostic_and_known() -> None:
    docs = k8s_documents()
    assert docs
    for path, doc in docs:
        assert {"apiVersion", "kind"} <= set(doc), path
        assert "namespace" not in doc.get("metadata", {}), f"{path}: namespace is set"


def test_k8s_builtin_kinds_validate_against_schemas() -> None:
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    versions = ["1.29.0", kubernetes_validate.utils.latest_version()]
    checked = 0
    for _, doc in k8s_documents():
        if doc["kind"] in CUSTOM_KINDS:
            continue
        for version in versions:
            kubernetes_validate.validate(doc, version, strict=True)
        checked += 1
    assert checked >= 6, "deployments (cpu, gpu), ConfigMap, Secret, Service, PDB"


def test_kustomizations_list_existing_files() -> None:
    for path, doc in k8s_documents():
        if doc["kind"] == "Kustomization":
            for resource in doc["resources"]:
                assert (path.parent / resource).exists(), f"{path}: {resource}"
            for generator in doc.get("configMapGenerator", []):
                for env in generator.get("envs", []):
                    assert (path.parent / env).exists(), f"{path}: {env}"


def worker_deployments() -> dict[str, dict[str, Any]]:
    return {path.parent.name: doc for path, doc in k8s_documents() if doc["kind"] == "Deployment"}


def test_k8s_worker_deployments() -> None:
    deployments = worker_deployments()
    assert set(deployments) == {"cpu", "gpu"}
    http_port = int(config_map()["DECAY_HTTP_PORT"])
    for variant, deployment in deployments.items():
        pod = deployment["spec"]["template"]
        (container,) = pod["spec"]["containers"]
        assert (
            deployment["spec"]["selector"]["matchLabels"].items()
            <= pod["metadata"]["labels"].items()
        )
        assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"
        assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
        assert container["startupProbe"]["httpGet"]["path"] == "/health/live"
        ports = {port["name"]: port["containerPort"] for port in container["ports"]}
        assert ports["http"] == http_port
        assert pod["metadata"]["annotations"]["prometheus.io/port"] == str(http_port)
        resources = container["resources"]
        assert {"cpu", "memory"} <= set(resources["requests"]) and "memory" in resources["limits"]
        gpus = resources["limits"].get("nvidia.com/gpu")
        assert (gpus == 1) if variant == "gpu" else (gpus is None), variant
        assert {"configMapRef": {"name": "decay-stream-config"}} in container["envFrom"]
        env = {item["name"]: item for item in container["env"]}
        assert set(env) <= SETTINGS_ENV
        password = env["DECAY_SASL_PASSWORD"]["valueFrom"]["secretKeyRef"]
        assert password["name"] == "decay-stream-kafka"
        mounts = {mount["mountPath"] for mount in container["volumeMounts"]}
        assert config_map()["DECAY_DATA_DIR"] in mounts, "readOnlyRootFilesystem needs a data dir"


def test_k8s_config_map_holds_settings_and_no_secrets() -> None:
    data = config_map()
    assert set(data) <= SETTINGS_ENV, set(data) - SETTINGS_ENV
    assert "DECAY_SASL_PASSWORD" not in data
    settings = Settings(
        **{key.removeprefix("DECAY_").lower(): value for key, value in data.items()}
    )
    assert settings.partitions >= 1


def test_k8s_objects_select_the_worker_pods() -> None:
    pod_labels = worker_deployments()["cpu"]["spec"]["template"]["metadata"]["labels"]
    (service,) = k8s_objects("Service")
    (pdb,) = k8s_objects("PodDisruptionBudget")
    (monitor,) = k8s_objects("PodMonitor")
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert monitor["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert monitor["spec"]["podMetricsEndpoints"][0]["port"] == "http"
    assert monitor["spec"]["podMetricsEndpoints"][0]["path"] == "/metrics"
    # The operator takes the job label from this pod label: the rules and dashboard select it.
    assert pod_labels[monitor["spec"]["jobLabel"]] == "decay-stream"


def test_keda_scales_on_the_consumer_group_lag_up_to_the_partitions() -> None:
    """The trigger as rendered: broker, group, topic and the replica cap follow config.env."""
    from tests.deploy.test_k8s_variants import render

    data = config_map()
    for variant in ("with-crds/cpu", "with-crds/stateful-cpu"):
        objects = render(variant)
        spec = objects["ScaledObject"]["spec"]
        workload = objects.get("StatefulSet") or objects["Deployment"]
        target = spec["scaleTargetRef"]
        assert (target["kind"], target["name"]) == (workload["kind"], workload["metadata"]["name"])
        assert spec["maxReplicaCount"] == int(data["DECAY_PARTITIONS"])
        (trigger,) = spec["triggers"]
        assert trigger["type"] == "kafka"
        meta = trigger["metadata"]
        assert meta["consumerGroup"] == data["DECAY_APP_ID"]  # Faust's group id is the app id
        assert meta["topic"] == data["DECAY_EVENTS_TOPIC"]
        assert meta["bootstrapServers"] == data["DECAY_BOOTSTRAP_SERVERS"]
        assert meta["allowIdleConsumers"] == "false"
        assert int(meta["lagThreshold"]) > 0


def test_prometheus_rule_matches_the_alert_rules_file() -> None:
    (rule,) = k8s_objects("PrometheusRule")
    assert rule["spec"] == yaml.safe_load(ALERT_RULES.read_text()), "run `make k8s-rules`"


# ---------------------------------------------------------------- documentation


def test_every_metric_is_in_the_deploy_readme_reference() -> None:
    text = (DEPLOY / "README.md").read_text()
    reference = text.split("## Metrics reference", 1)[1].split("\n## ", 1)[0]
    for name, kind in exported_families().items():
        if name.startswith(STANDARD_PREFIXES):
            assert "`process_*`, `python_gc_*`" in reference
            continue
        shown = name + ("_total" if kind == "counter" else "_info" if kind == "info" else "")
        assert f"`{shown}`" in reference, f"{shown} is not documented in deploy/README.md"


def test_the_init_containers_check_passes_on_the_shipped_config() -> None:
    """`decay-stream check` (the pods' init container) on base/config.env and the stateful
    variants' merged literals: no unknown variable, valid settings, policy, model, topics."""
    from stream_app.commands.check import preflight

    stateful = {
        "DECAY_STORE_URL": "rocksdb://",
        "DECAY_SESSION_TIMEOUT_SECONDS": "60",
        "DECAY_HEARTBEAT_INTERVAL_SECONDS": "10",
    }
    for environ in (config_map(), config_map() | stateful):
        settings = Settings(
            **{key.removeprefix("DECAY_").lower(): value for key, value in environ.items()}
        )
        assert preflight(settings, environ) == []
