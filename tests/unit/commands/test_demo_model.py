from pathlib import Path

from stream_app.commands import demo
from stream_app.paths import DEFAULT_MODEL_PATH


def test_typed_sources_get_the_clickstream_model(monkeypatch, tmp_path: Path) -> None:
    click = tmp_path / "decay_step.onnx"
    click.write_bytes(b"")
    monkeypatch.setattr(demo, "CLICKSTREAM_MODEL_PATH", click)
    assert demo.model_for_source("taobao-814", DEFAULT_MODEL_PATH) == click
    assert demo.model_for_source("tmall-709", DEFAULT_MODEL_PATH) == click
    assert demo.model_for_source("online-retail", DEFAULT_MODEL_PATH) == DEFAULT_MODEL_PATH
    mine = tmp_path / "mine.onnx"
    assert demo.model_for_source("taobao-slice", mine) == mine
