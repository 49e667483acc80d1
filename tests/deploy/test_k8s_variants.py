"""The four Kubernetes variants as `kubectl kustomize` renders them (kustomize is built into
kubectl): schemas, a config change that rolls the pods, and the StatefulSet's stateful parts."""

from __future__ import annotations

import shutil
import subprocess
from typing import Any

import pytest
import yaml

from tests.deploy.manifests import DEPLOY

K8S = DEPLOY / "k8s"
VARIANTS = ("cpu", "gpu", "stateful/cpu", "stateful/gpu")
CUSTOM_KINDS = {"PodMonitor", "PrometheusRule", "ScaledObject"}


def render(variant: str) -> dict[str, dict[str, Any]]:
    """kind → object of `kubectl kustomize deploy/k8s/<variant>` (one object per kind here)."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl not installed (its built-in kustomize renders the variants)")
    result = subprocess.run(
        [kubectl, "kustomize", str(K8S / variant)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    objects = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    by_kind = {doc["kind"]: doc for doc in objects}
    assert len(by_kind) == len(objects), "one object per kind"
    return by_kind


def workload(objects: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return objects.get("StatefulSet") or objects["Deployment"]


def container_env(objects: dict[str, dict[str, Any]]) -> dict[str, Any]:
    (container,) = workload(objects)["spec"]["template"]["spec"]["containers"]
    return {item["name"]: item for item in container.get("env", [])}


@pytest.mark.parametrize("variant", VARIANTS)
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
    target = objects["ScaledObject"]["spec"]["scaleTargetRef"]
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
