"""The images' lock files: every dependency pinned and hashed, the CPU lock without the GPU
runtime, both in step with pyproject.toml (`make lock` rewrites them)."""

from __future__ import annotations

import re
import tomllib

import pytest

from tests.deploy.manifests import DEPLOY, REPO

LOCKS = DEPLOY / "requirements"
PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==(\S+) \\$", re.M)


def pins(name: str) -> dict[str, str]:
    return {n.lower(): v for n, v in PIN.findall((LOCKS / f"{name}.lock").read_text())}


def requirement_names(requirements: list[str]) -> set[str]:
    return {re.split(r"[<>=!~;\[ ]", r, maxsplit=1)[0].lower() for r in requirements}


@pytest.mark.parametrize("name", ["cpu", "gpu"])
def test_every_requirement_is_pinned_with_hashes(name: str) -> None:
    text = (LOCKS / f"{name}.lock").read_text()
    blocks = [b for b in re.split(r"\n(?=\S)", text) if b.strip() and not b.startswith("#")]
    assert len(blocks) == len(pins(name)) >= 30
    for block in blocks:
        assert "==" in block.splitlines()[0] and "--hash=sha256:" in block, block[:80]


@pytest.mark.parametrize("name", ["cpu", "gpu"])
def test_lock_holds_what_pyproject_asks_for(name: str) -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    wanted = requirement_names(project["dependencies"] + extras["rocksdb"] + extras["json-logs"])
    wanted |= {"setuptools", "wheel"}  # the build, with --no-build-isolation
    if name == "gpu":  # linux x86_64: onnxruntime-gpu, the CUDA wheels
        wanted = (wanted | requirement_names(extras["gpu"])) - {"onnxruntime"}
    else:  # the CPU build in place of onnxruntime-gpu
        wanted = (wanted - {"onnxruntime-gpu"}) | {"onnxruntime"}
    assert not wanted - set(pins(name)), f"run `make lock`: {wanted - set(pins(name))}"


def test_cpu_image_has_no_gpu_runtime() -> None:
    cpu, gpu = pins("cpu"), pins("gpu")
    assert "onnxruntime" in cpu and "onnxruntime-gpu" not in cpu
    assert not [n for n in cpu if n.startswith("nvidia-")]
    assert "onnxruntime-gpu" in gpu and "nvidia-cudnn-cu13" in gpu
    shared = cpu.keys() & gpu.keys()
    assert {n: cpu[n] for n in shared} == {n: gpu[n] for n in shared}, "the images differ"
