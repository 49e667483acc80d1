"""The four Kubernetes variants as `kubectl kustomize` renders them (kustomize is built into
kubectl), without and with the CRD-backed components (with-crds/): schemas, a config change that
rolls the pods, the StatefulSet's stateful parts, and what a cluster needs to accept them as they
are (no fixed replicas under KEDA, no API token, a network policy, zone spread, a PDB that fits
the minimum replicas, the offline check as an init container)."""

from __future__ import annotations

import functools
import shutil
import subprocess
from typing import Any

import pytest
import yaml

from tests.deploy.manifests import DEPLOY

K8S = DEPLOY / "k8s"
VARIANTS = ("cpu", "gpu", "stateful/cpu", "stateful/gpu")
WITH_CRDS = ("with-crds/cpu", "with-crds/gpu", "with-crds/stateful-cpu", "with-crds/stateful-gpu")
CUSTOM_KINDS = {"PodMonitor", "PrometheusRule", "ScaledObject"}


@functools.cache
def rendered_text(variant: str) -> str:
    """`kubectl kustomize deploy/k8s/<variant>` (once per variant and session)."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl not installed (its built-in kustomize renders the variants)")
    result = subprocess.run(
        [kubectl, "kustomize", str(K8S / variant)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def render(variant: str) -> dict[str, dict[str, Any]]:
    """kind → object of `kubectl kustomize deploy/k8s/<variant>` (one object per kind here)."""
    objects = [doc for doc in yaml.safe_load_all(rendered_text(variant)) if doc]
    by_kind = {doc["kind"]: doc for doc in objects}
    assert len(by_kind) == len(objects), "one object per kind"
    return by_kind


def workload(objects: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return objects.get("StatefulSet") or objects["Deployment"]


def container_env(objects: dict[str, dict[str, Any]]) -> dict[str, Any]:
    (container,) = workload(objects)["spec"]["template"]["spec"]["containers"]
    return {item["name"]: item for item in container.get("env", [])}


@pytest.mark.parametrize("variant", VARIANTS + WITH_CRDS)
def test_rendered_variant_validates_against_the_kubernetes_schemas(variant: str) -> None:
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    version = kubernetes_validate.utils.latest_version()
    objects = render(variant)
    for kind, doc in objects.items():
        if kind not in CUSTOM_KINDS:
            kubernetes_validate.validate(doc, version, strict=True)


@pytest.mark.parametrize("variant", VARIANTS)
def test_the_pods_name_the_generated_config_map_so_a_change_rolls_them(variant: str) -> None:
    objects = render(variant)
    name = objects["ConfigMap"]["metadata"]["name"]
    assert name.startswith("decay-stream-config-") and name != "decay-stream-config-"
    (container,) = workload(objects)["spec"]["template"]["spec"]["containers"]
    assert {"configMapRef": {"name": name}} in container["envFrom"]


def test_a_config_change_is_a_new_config_map_name(tmp_path: Any) -> None:
    """Render cpu/ over a copy of base/ with one setting changed: the name changes."""
    copy = tmp_path / "k8s"
    shutil.copytree(K8S, copy)
    env = copy / "base" / "config.env"
    env.write_text(env.read_text().replace("DECAY_LOG_LEVEL=INFO", "DECAY_LOG_LEVEL=DEBUG"))
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl not installed")
    out = subprocess.run([kubectl, "kustomize", str(copy / "cpu")], capture_output=True,
                         text=True, timeout=60, check=True).stdout  # fmt: skip
    changed = next(d for d in yaml.safe_load_all(out) if d and d["kind"] == "ConfigMap")
    assert changed["metadata"]["name"] != render("cpu")["ConfigMap"]["metadata"]["name"]


@pytest.mark.parametrize("variant", ["stateful/cpu", "stateful/gpu"])
def test_statefulset_keeps_its_shard_across_restarts(variant: str) -> None:
    objects = render(variant)
    sts = objects["StatefulSet"]
    spec = sts["spec"]
    assert spec["serviceName"] == objects["Service"]["metadata"]["name"]
    (claim,) = spec["volumeClaimTemplates"]
    (container,) = spec["template"]["spec"]["containers"]
    data_dir = objects["ConfigMap"]["data"]["DECAY_DATA_DIR"]
    assert {"name": claim["metadata"]["name"], "mountPath": data_dir} in container["volumeMounts"]
    assert objects["ConfigMap"]["data"]["DECAY_STORE_URL"] == "rocksdb://"
    instance = container_env(objects)["DECAY_GROUP_INSTANCE_ID"]
    assert instance["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    # Graceful stop: longer than a commit under a slow broker; the session timeout lets a
    # restarted static member come back without a rebalance.
    session = int(objects["ConfigMap"]["data"]["DECAY_SESSION_TIMEOUT_SECONDS"])
    heartbeat = int(objects["ConfigMap"]["data"]["DECAY_HEARTBEAT_INTERVAL_SECONDS"])
    assert spec["template"]["spec"]["terminationGracePeriodSeconds"] >= 60
    assert session >= 60 and heartbeat * 3 <= session
    scaled = render(f"with-crds/{variant.replace('/', '-')}")["ScaledObject"]
    target = scaled["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("StatefulSet", sts["metadata"]["name"])


def test_gpu_statefulset_asks_for_a_gpu_and_prefers_cuda() -> None:
    objects = render("stateful/gpu")
    (container,) = objects["StatefulSet"]["spec"]["template"]["spec"]["containers"]
    assert container["image"].endswith("-gpu")
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert container_env(objects)["DECAY_MODEL_PREFER_CUDA"]["value"] == "true"
    cpu = render("stateful/cpu")["StatefulSet"]["spec"]["template"]["spec"]["containers"][0]
    assert "nvidia.com/gpu" not in cpu["resources"]["limits"]


def test_deployments_keep_the_memory_store() -> None:
    for variant in ("cpu", "gpu"):
        objects = render(variant)
        assert objects["ConfigMap"]["data"]["DECAY_STORE_URL"] == "memory://"
        assert "DECAY_GROUP_INSTANCE_ID" not in container_env(objects)


@pytest.mark.parametrize("variant", VARIANTS)
def test_the_base_variants_need_no_crd(variant: str) -> None:
    assert not set(render(variant)) & CUSTOM_KINDS


@pytest.mark.parametrize("variant", WITH_CRDS)
def test_the_components_add_the_crd_objects_with_the_usual_labels(variant: str) -> None:
    objects = render(variant)
    assert CUSTOM_KINDS <= set(objects)
    for kind in ("PodMonitor", "PrometheusRule"):
        assert objects[kind]["metadata"]["labels"]["release"] == "kube-prometheus-stack"


@pytest.mark.parametrize("variant", VARIANTS)
def test_pods_a_cluster_accepts_as_they_are(variant: str) -> None:
    objects = render(variant)
    work = workload(objects)
    assert "replicas" not in work["spec"], "KEDA sets the replicas; a fixed count fights it"
    pod = work["spec"]["template"]["spec"]
    account = objects["ServiceAccount"]
    assert pod["serviceAccountName"] == account["metadata"]["name"]
    assert pod["automountServiceAccountToken"] is False
    assert account["automountServiceAccountToken"] is False
    assert pod["enableServiceLinks"] is False
    keys = [c["topologyKey"] for c in pod["topologySpreadConstraints"]]
    assert keys == ["topology.kubernetes.io/zone", "kubernetes.io/hostname"]
    (check,) = pod["initContainers"]
    (worker,) = pod["containers"]
    assert check["args"] == ["check"] and check["image"] == worker["image"]
    assert check["envFrom"] == worker["envFrom"]
    policy = objects["NetworkPolicy"]["spec"]
    labels = work["spec"]["template"]["metadata"]["labels"]
    assert policy["podSelector"]["matchLabels"].items() <= labels.items()
    assert policy["ingress"] == [{"ports": [{"port": "http", "protocol": "TCP"}]}]


@pytest.mark.parametrize("variant", WITH_CRDS)
def test_the_pdb_fits_the_minimum_replicas(variant: str) -> None:
    objects = render(variant)
    pdb = objects["PodDisruptionBudget"]["spec"]
    minimum = objects["ScaledObject"]["spec"]["minReplicaCount"]
    assert "maxUnavailable" not in pdb
    assert 1 <= pdb["minAvailable"] < minimum, "a drain never takes the last worker, and can run"


@pytest.mark.parametrize("variant", VARIANTS)
def test_memory_limits_follow_the_sizing_table(variant: str) -> None:
    """The limit holds the users the sizing table gives one pod (deploy/README.md#sizing)."""
    objects = render(variant)
    (worker,) = workload(objects)["spec"]["template"]["spec"]["containers"]
    limit = worker["resources"]["limits"]["memory"]
    assert limit.endswith("Gi") and worker["resources"]["requests"]["memory"] == limit
    sizing = (DEPLOY / "README.md").read_text().split("### Sizing", 1)[1].split("\n## ", 1)[0]
    store = objects["ConfigMap"]["data"]["DECAY_STORE_URL"]
    rows = [line for line in sizing.splitlines() if line.startswith(f"| `{store}`")]
    assert any(f"| {limit} |" in row for row in rows), (variant, limit, store)


def crd_models() -> dict[str, Any]:
    """kind → the pydantic model generated from its CRD (cloudcoil's KEDA and prometheus-operator
    models): the CRD kinds' schemas, which kubernetes-validate does not have."""
    keda = pytest.importorskip("cloudcoil.models.keda.v1alpha1")
    operator = pytest.importorskip("cloudcoil.models.prometheus_operator.v1")
    return {
        "ScaledObject": keda.ScaledObject,
        "PodMonitor": operator.PodMonitor,
        "PrometheusRule": operator.PrometheusRule,
    }


@pytest.mark.parametrize("variant", WITH_CRDS)
def test_the_crd_objects_validate_against_their_crd_schemas(variant: str) -> None:
    """Types and required fields by the model; unknown fields by the round trip (a field the CRD
    does not know is dropped by the model, so the dump differs)."""
    objects = render(variant)
    for kind, model in crd_models().items():
        doc = objects[kind]
        back = model.model_validate(doc).model_dump(by_alias=True, exclude_unset=True, mode="json")
        assert back == doc, kind


def test_the_crd_validation_can_fail() -> None:
    from pydantic import ValidationError

    models = crd_models()
    scaled = render("with-crds/cpu")["ScaledObject"]
    scaled["spec"]["maxReplicaCount"] = "eight"
    with pytest.raises(ValidationError):
        models["ScaledObject"].model_validate(scaled)
    monitor = render("with-crds/cpu")["PodMonitor"]
    monitor["spec"]["podMetricsEndpoint"] = monitor["spec"].pop("podMetricsEndpoints")  # a typo
    back = models["PodMonitor"].model_validate(monitor).model_dump(by_alias=True, exclude_unset=True)
    assert back != monitor
