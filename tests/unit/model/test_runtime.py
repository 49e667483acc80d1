"""Runtime: CPU fallback with one log line, and the contract check at load."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest

from stream_app.model.contract import META_CONTRACT, NUMERIC_FEATURES, ContractError
from stream_app.model.runtime import ModelRuntime, TopOutput
from stream_app.model.served_graph import TOP_BUCKETS_PER_COMPONENT, step_graph, top_buckets_graph

MODELS = Path(__file__).resolve().parents[3] / "models"
STEP = MODELS / "decay_step.onnx"

pytestmark = pytest.mark.skipif(not STEP.is_file(), reason="no committed model in models/")


def test_cpu_fallback_logs_exactly_one_line(caplog, capfd) -> None:
    with caplog.at_level(logging.DEBUG, logger="stream_app.model.runtime"):
        runtime = ModelRuntime(STEP)  # tries CUDA first
    lines = [r for r in caplog.records if r.name == "stream_app.model.runtime"]
    assert len(lines) == 1 and runtime.provider in lines[0].getMessage()
    err = capfd.readouterr()
    assert "CUDA" not in err.err and "CUDA" not in err.out
    assert runtime.provider in ("CPUExecutionProvider", "CUDAExecutionProvider")


def test_batched_step_shapes() -> None:
    runtime = ModelRuntime(STEP, prefer_cuda=False)
    b = 5
    h, c = runtime.initial_state(b)
    numeric = np.zeros((b, len(NUMERIC_FEATURES)), np.float32)
    out = runtime.step(np.zeros(b), np.arange(b), numeric, h, c)
    r = runtime.spec.components
    assert out.h.shape == h.shape and out.c.shape == c.shape
    assert out.mu.shape == (b, r) and out.beta.shape == (b, r)
    top = runtime.top_buckets(out.h)
    assert top.weights.shape == top.ids.shape == (b, r, TOP_BUCKETS_PER_COMPONENT)
    assert (np.diff(top.weights, axis=-1) <= 0).all()  # largest first
    assert (out.mu > 0).all() and (out.alpha > 0).all() and (out.beta > 0).all()
    with pytest.raises(ValueError, match="numeric"):
        runtime.step(np.zeros(b), np.arange(b), numeric[:, :3], h, c)


def test_the_served_top_buckets_are_the_exported_graphs_largest_weights_exactly() -> None:
    """The top buckets taken from the new h, one user at a time or all at once, are the
    exported graph's π at the buckets a stable sort ranks first (ties: the lower bucket
    first), bit for bit; the step without π gives every other output unchanged."""
    import onnxruntime as ort

    runtime = ModelRuntime(STEP, prefer_cuda=False)
    exported = ort.InferenceSession(str(STEP), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(3)
    b = 64
    h, c = (rng.standard_normal((b, runtime.spec.hidden_size)).astype(np.float32) for _ in "hc")
    event_type = rng.integers(0, 4, b)
    category = rng.integers(0, 1024, b)
    numeric = rng.random((b, len(NUMERIC_FEATURES))).astype(np.float32)
    out = runtime.step(event_type, category, numeric, h, c)
    feeds = [event_type.astype(np.int64), category.astype(np.int64), numeric, h, c]
    names = [i.name for i in exported.get_inputs()]
    *state, pi = exported.run(None, dict(zip(names, feeds, strict=True)))
    for served, full in zip((out.h, out.c, out.mu, out.alpha, out.beta), state, strict=True):
        assert np.array_equal(served, full)
    ranked = np.argsort(-pi, axis=-1, kind="stable")[..., :TOP_BUCKETS_PER_COMPONENT]
    rows = [runtime.top_buckets(out.h[i : i + 1]) for i in range(b)]
    one_by_one = TopOutput(
        np.concatenate([t.weights for t in rows]), np.concatenate([t.ids for t in rows])
    )
    for top in (runtime.top_buckets(out.h), one_by_one):
        assert np.array_equal(top.ids, ranked)
        assert np.array_equal(top.weights, np.take_along_axis(pi, ranked, axis=-1))
    with pytest.raises(ValueError, match="expected"):
        runtime.top_buckets(out.h[:, :3])


def test_a_graph_without_pi_cannot_be_served() -> None:
    onnx = pytest.importorskip("onnx")
    model = onnx.load(str(STEP))
    kept = [o for o in model.graph.output if o.name != "pi"]
    del model.graph.output[:]
    model.graph.output.extend(kept)
    for cut in (step_graph, top_buckets_graph):
        with pytest.raises(ValueError, match="no output 'pi'"):
            cut(model.SerializeToString())


def _rewrite(tmp_path: Path, src: Path, key: str, edit) -> Path:
    onnx = pytest.importorskip("onnx")
    model = onnx.load(str(src))
    for prop in model.metadata_props:
        if prop.key == key:
            prop.value = edit(prop.value)
    dest = tmp_path / "tampered.onnx"
    onnx.save(model, str(dest))
    return dest


def test_contract_mismatch_is_rejected(tmp_path: Path) -> None:
    def fewer_features(value: str) -> str:
        contract = json.loads(value)
        contract["numeric_features"] = contract["numeric_features"][:-1]
        return json.dumps(contract)

    bad = _rewrite(tmp_path, STEP, META_CONTRACT, fewer_features)
    with pytest.raises(ContractError, match="numeric_features"):
        ModelRuntime(bad, prefer_cuda=False)


def test_sequence_graph_is_not_a_step_graph() -> None:
    with pytest.raises(ContractError, match="not 'step'"):
        ModelRuntime(MODELS / "decay_sequence.onnx", prefer_cuda=False)


def test_category_blend_comes_from_metadata_and_defaults_to_the_head(tmp_path: Path) -> None:
    from stream_app.model.categories import CategoryBlend
    from stream_app.model.contract import META_CATEGORY_BLEND

    runtime = ModelRuntime(STEP, prefer_cuda=False)
    assert runtime.category_blend == CategoryBlend.from_json(runtime.spec.category_blend)
    onnx = pytest.importorskip("onnx")
    model = onnx.load(str(STEP))
    kept = [p for p in model.metadata_props if p.key != META_CATEGORY_BLEND]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    older = tmp_path / "no_blend.onnx"
    onnx.save(model, str(older))
    assert ModelRuntime(older, prefer_cuda=False).category_blend == CategoryBlend()


def _with_meta(tmp_path: Path, key: str, value: str) -> Path:
    onnx = pytest.importorskip("onnx")
    model = onnx.load(str(STEP))
    kept = [p for p in model.metadata_props if p.key != key]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    onnx.helper.set_model_props(model, {**{p.key: p.value for p in kept}, key: value})
    dest = tmp_path / "with_meta.onnx"
    onnx.save(model, str(dest))
    return dest


def test_covariate_weights_come_from_metadata_and_must_match_the_code(tmp_path: Path) -> None:
    from stream_app.model.contract import META_COVARIATES, covariates_metadata
    from stream_app.model.covariates import COVARIATE_NAMES

    weights = [0.01 * i for i in range(len(COVARIATE_NAMES))]
    path = _with_meta(tmp_path, META_COVARIATES, covariates_metadata(weights))
    assert ModelRuntime(path, prefer_cuda=False).calibration.weights == tuple(weights)
    renamed = json.dumps({"names": ["recency", *COVARIATE_NAMES[1:]], "weights": weights})
    with pytest.raises(ContractError, match="covariates"):
        ModelRuntime(_with_meta(tmp_path, META_COVARIATES, renamed), prefer_cuda=False)
    broken = json.dumps({"names": list(COVARIATE_NAMES), "weights": [float("nan")] * 30})
    with pytest.raises(ContractError, match="finite"):
        ModelRuntime(_with_meta(tmp_path, META_COVARIATES, broken), prefer_cuda=False)
