"""Small-slice end-to-end run: train → export → score, plus the ONNX parity checks."""

from __future__ import annotations

import csv
from dataclasses import asdict
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from stream_app.commands.score import main as score_main
from stream_app.data.eventlogs import read_log
from stream_app.model.contract import INPUT_NAMES, OUTPUT_NAMES
from stream_app.model.runtime import ModelRuntime
from stream_app.model.survival import Calibration

pytestmark = pytest.mark.model
torch = pytest.importorskip("torch")


def test_pipeline_writes_artifact_and_metrics(trained) -> None:
    out, metrics = trained
    for name in ("decay_step.onnx", "decay_sequence.onnx", "metrics.json", "EVALUATION.md",
                 "MODEL_CARD.md", "roc.png", "calibration.png", "decay_curves.png"):  # fmt: skip
        assert (out / name).is_file(), name
    rows = metrics["test"]["mean"]
    assert {"model", "recency", "exp_decay", "rfm_logistic", "rfm_gbm", "bg_nbd"} <= rows.keys()
    assert len(metrics["test"]["by_cutoff"]) == 3
    assert metrics["onnx_score_max_abs_diff"] < 1e-4
    latest = metrics["test"]["by_cutoff"][-1]
    assert {"model", "model_head_only"} <= latest["next_category_recall_at_10"].keys()
    comp = metrics["comparison"]["roc_auc"]
    assert comp["low"] <= comp["difference"] <= comp["high"]
    assert {r["segment"] for r in metrics["segments"]} <= {"one-time", "repeat τ<0.5·gap",
        "repeat 0.5–1.5·gap", "repeat 1.5–3·gap", "repeat >3·gap"}  # fmt: skip
    blend = ModelRuntime(out / "decay_step.onnx", prefer_cuda=False).category_blend
    assert asdict(blend) == metrics["category_blend"]
    assert 0.0 <= rows["model"]["roc_auc"] <= 1.0


def test_every_fit_is_recorded_and_every_model_row_is_served_by_score(trained) -> None:
    out, metrics = trained
    fits = metrics["fits"]
    assert [f["fit"] for f in fits][-1] == "shipped" and len(fits) == 4
    assert {f["kind"] for f in fits} == {metrics["calibration"]["kind"]}
    assert metrics["configuration"]["same_as_origins"] is True
    for c in metrics["test"]["by_cutoff"]:
        assert c["onnx_score_max_abs_diff"] < 1e-4, c["test_cutoff"]
        assert c["calibration_fit"]["kind"] == metrics["calibration"]["kind"]
        assert set(c["ablation_fits"]) == {"model_covariates_only", "model_sequence_only"}
    abl = metrics["ablation"]
    seq = abl["full_minus_covariates_only"]["roc_auc"]
    assert seq["low"] <= seq["difference"] <= seq["high"]
    assert abl["sequence_adds"] == (seq["low"] > 0)
    assert {"model_covariates_only", "model_sequence_only"} <= metrics["test"]["mean"].keys()
    for doc in ("EVALUATION.md", "MODEL_CARD.md"):
        text = (out / doc).read_text()
        assert "full − covariates only" in text and "What each fit chose" in text, doc
        assert f"{seq['difference']:+.4f}" in text, doc


def test_score_command_end_to_end(trained, retail_fixture: Path, tmp_path: Path) -> None:
    out, _ = trained
    dest = tmp_path / "scores.csv"
    argv = [str(retail_fixture), "--format", "online-retail", "--cutoff", "2011-09-01",
            "--model", str(out / "decay_step.onnx"), "--out", str(dest), "--cpu"]  # fmt: skip
    assert score_main(argv) == 0
    with dest.open() as fh:
        rows = list(csv.DictReader(fh))
    log = read_log(retail_fixture, "online-retail").before(1314835200.0)
    assert len(rows) == len(np.unique(log.user_id))
    assert all(0.0 < float(r["p_return"]) < 1.0 for r in rows)


def _real_sequences(retail_fixture: Path, users: int, steps: int):
    from export.dataset import encode_log, pad_users

    enc = encode_log(read_log(retail_fixture, "online-retail"))
    rows = np.flatnonzero(enc.lengths >= steps)[:users]
    p = pad_users(enc, rows, 0.0)
    return p.event_type[:, :steps], p.category_bucket[:, :steps], p.numeric[:, :steps]


def _torch_model(out: Path):
    """A seeded model exported to ONNX here (parity needs no training)."""
    from export.model import DecayModel, ModelConfig
    from export.onnx_export import ExportInfo, export_onnx

    torch.manual_seed(3)
    model = DecayModel(ModelConfig(hidden_size=24, components=3)).eval()
    step, seq = export_onnx(model, ExportInfo("test", 30.0, Calibration(), "fp"), out)
    return model, step, seq


def test_torch_onnx_and_step_sequence_parity(retail_fixture: Path, tmp_path: Path) -> None:
    model, step_path, seq_path = _torch_model(tmp_path)
    et, cb, num = _real_sequences(retail_fixture, users=6, steps=12)
    b, s = et.shape[0], model.cfg.hidden_size
    h0 = np.zeros((b, s), np.float32)
    with torch.no_grad():
        head, _, ht, ct = model(*(torch.from_numpy(x) for x in (et, cb, num, h0, h0)))
    ref = [ht, ct, head.mu, head.alpha, head.beta, head.log_pi.exp()]
    seq = ort.InferenceSession(str(seq_path), providers=["CPUExecutionProvider"])
    got = seq.run(None, dict(zip(INPUT_NAMES, (et, cb, num, h0, h0), strict=True)))
    for name, r, g in zip(OUTPUT_NAMES, ref, got, strict=True):
        assert np.max(np.abs(r.numpy() - g)) < 1e-4, f"torch vs sequence graph: {name}"
    runtime = ModelRuntime(step_path, prefer_cuda=False)
    h, c = runtime.initial_state(b)
    for t in range(et.shape[1]):
        o = runtime.step(et[:, t], cb[:, t], num[:, t], h, c)
        h, c = o.h, o.c
        for name, a, g in (("mu", o.mu, got[2]), ("beta", o.beta, got[4])):
            assert np.max(np.abs(a - g[:, t])) < 1e-4, f"step vs sequence: {name} at {t}"
        served = runtime.top_buckets(o.h).weights  # π from the new h, as the worker reads it
        top = -np.sort(-got[5][:, t], axis=-1)[..., : served.shape[-1]]
        assert np.max(np.abs(served - top)) < 1e-4, f"step vs sequence: top π at {t}"
    assert np.max(np.abs(h - got[0])) < 1e-4 and np.max(np.abs(c - got[1])) < 1e-4


def test_vectorised_encoder_matches_worker_encoder(retail_fixture: Path) -> None:
    from export.dataset import encode_log
    from stream_app.events.schema import EVENT_TYPES, Event, utc_from_seconds
    from stream_app.model.eventlog import EventLog
    from stream_app.model.features import encode_events, next_previous

    log: EventLog = read_log(retail_fixture, "online-retail").sorted()
    enc = encode_log(log)
    prev: dict[str, object] = {}
    for i in range(len(log)):
        e = Event(str(log.user_id[i]), utc_from_seconds(log.ts_seconds[i]),
                  EVENT_TYPES[log.event_type[i]], str(log.item_id[i]),
                  str(log.category_id[i]) or None,
                  None if np.isnan(log.price[i]) else float(log.price[i]))  # fmt: skip
        one = encode_events([e], [prev.get(e.user_id)])  # type: ignore[list-item]
        assert one.event_type[0] == enc.event_type[i]
        assert one.category_bucket[0] == enc.category_bucket[i]
        np.testing.assert_array_equal(one.numeric[0], enc.numeric[i])
        prev[e.user_id] = next_previous(e, prev.get(e.user_id))  # type: ignore[arg-type]


def test_evaluated_category_ranking_is_the_served_one(retail_fixture: Path) -> None:
    from datetime import UTC, datetime

    from export.dataset import encode_log
    from export.evaluate import RECENT_EVENTS, recent_frequency
    from export.labels import cutoff_labels
    from stream_app.model.categories import CategoryBlend, blend_scores, rank_categories

    enc = encode_log(read_log(retail_fixture, "online-retail"))
    lbl = cutoff_labels(enc, datetime(2011, 9, 1, tzinfo=UTC), 30.0)
    blend = CategoryBlend(weight=0.7, half_life_days=45.0, recent_events=RECENT_EVENTS)
    lam = np.random.default_rng(0).gamma(0.3, size=(len(lbl.rows), 1024))
    batched = blend_scores(lam, recent_frequency(enc, lbl, blend.half_life_days), blend.weight)
    top = np.argsort(-batched, axis=1, kind="stable")[:, :10]
    for i, last in enumerate(lbl.last_index):
        first = int(enc.starts[lbl.rows[i]])
        served = rank_categories(lam[i], enc.category_bucket[first : last + 1],
                                 enc.log.ts_seconds[first : last + 1], lbl.cutoff_seconds, blend)  # fmt: skip
        assert served.tolist() == top[i].tolist()


@pytest.mark.xfail(
    strict=True,
    reason="missed on the 120-customer slice: at 2011-08-30 the model's ROC-AUC is 0.6895, "
    "rfm_logistic's 0.6898 (covariates only 0.6895): the head's weight is held at its floor "
    "there, the sequence head adds nothing",
)
def test_the_smoke_model_is_as_good_as_its_best_baseline_at_its_last_cutoff(trained) -> None:
    _, metrics = trained
    last = metrics["test"]["by_cutoff"][-1]["return_within_h"]
    baselines = {k: v for k, v in last.items() if not k.startswith("model")}
    best = max(baselines, key=lambda k: baselines[k]["roc_auc"])
    assert last["model"]["roc_auc"] >= baselines[best]["roc_auc"], (best, last)
