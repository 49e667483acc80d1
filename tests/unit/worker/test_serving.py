"""Hot reload of the serving model: a new artifact is picked up, a broken one is refused."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import onnx
import pytest

from stream_app.worker.metrics import Metrics
from stream_app.worker.serving import ServingModel
from tests.offline_model import STEP_GRAPH

pytestmark = pytest.mark.skipif(not STEP_GRAPH.exists(), reason="no committed model in models/")


def with_version(source: Path, target: Path, version: str) -> None:
    model = onnx.load(str(source))
    for prop in model.metadata_props:
        if prop.key == "decay_stream.model_version":
            prop.value = version
    onnx.save(model, str(target))


async def test_new_artifact_is_picked_up_and_a_broken_one_refused(tmp_path: Path) -> None:
    path = tmp_path / "decay_step.onnx"
    shutil.copy(STEP_GRAPH, path)
    metrics = Metrics()
    model = ServingModel(path, metrics, prefer_cuda=False)
    model.load()
    original = model.version
    assert await model.maybe_reload() is False  # unchanged file

    with_version(STEP_GRAPH, tmp_path / "next.onnx", "9.9-test")
    os.replace(tmp_path / "next.onnx", path)  # atomic swap, as a deploy would do
    assert await model.maybe_reload() is True
    assert model.version == "9.9-test" != original
    assert metrics.model_info._value["version"] == "9.9-test"  # type: ignore[attr-defined]

    (tmp_path / "broken.onnx").write_bytes(b"not a model")
    os.replace(tmp_path / "broken.onnx", path)
    assert await model.maybe_reload() is False
    assert model.version == "9.9-test"
    assert metrics.model_reloads_total.labels("failed")._value.get() == 1
    assert metrics.model_reloads_total.labels("loaded")._value.get() == 1
    model.close()
