"""Export the trained model as ONNX step and sequence graphs carrying the contract metadata."""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import onnx
import torch
from torch import nn

from export.model import DecayModel, SequenceGraph, StepGraph
from stream_app.model.categories import CategoryBlend
from stream_app.model.contract import (
    GRAPH_SEQUENCE,
    GRAPH_STEP,
    INPUT_NAMES,
    META_CALIBRATION,
    META_CATEGORY_BLEND,
    META_COMPONENTS,
    META_CONTRACT,
    META_COVARIATES,
    META_DATA_FINGERPRINT,
    META_GRAPH_KIND,
    META_HIDDEN_SIZE,
    META_HORIZON_DAYS,
    META_KERNEL_SHAPES,
    META_MODEL_VERSION,
    NUMERIC_FEATURES,
    OPSET,
    OUTPUT_NAMES,
    contract_dict,
    covariates_metadata,
)
from stream_app.model.survival import Calibration

STEP_FILE = "decay_step.onnx"
SEQUENCE_FILE = "decay_sequence.onnx"


@dataclass(frozen=True)
class ExportInfo:
    """What goes into the metadata besides the contract."""

    model_version: str
    horizon_days: float
    calibration: Calibration
    data_fingerprint: str
    category_blend: CategoryBlend = field(default_factory=CategoryBlend)


def metadata(model: DecayModel, info: ExportInfo, graph_kind: str) -> dict[str, str]:
    """ONNX custom metadata of one graph."""
    meta = {
        META_CONTRACT: json.dumps(contract_dict(), sort_keys=True),
        META_MODEL_VERSION: info.model_version,
        META_GRAPH_KIND: graph_kind,
        META_HIDDEN_SIZE: str(model.cfg.hidden_size),
        META_COMPONENTS: str(model.cfg.components),
        META_HORIZON_DAYS: repr(float(info.horizon_days)),
        META_CALIBRATION: json.dumps([info.calibration.a, info.calibration.b]),
        META_DATA_FINGERPRINT: info.data_fingerprint,
        META_CATEGORY_BLEND: info.category_blend.to_json(),
        META_KERNEL_SHAPES: json.dumps(list(model.cfg.shapes)),
    }
    if info.calibration.weights:
        meta[META_COVARIATES] = covariates_metadata(info.calibration.weights)
    return meta


def _dummy(batch: int, steps: int | None, hidden: int) -> tuple[torch.Tensor, ...]:
    shape = (batch,) if steps is None else (batch, steps)
    return (
        torch.zeros(shape, dtype=torch.int64),
        torch.ones(shape, dtype=torch.int64),
        torch.zeros((*shape, len(NUMERIC_FEATURES))),
        torch.zeros(batch, hidden),
        torch.zeros(batch, hidden),
    )


def _dynamic_axes(sequence: bool) -> dict[str, dict[int, str]]:
    seq = {0: "batch", 1: "time"} if sequence else {0: "batch"}
    axes: dict[str, dict[int, str]] = {n: dict(seq) for n in INPUT_NAMES[:3]}
    axes.update({n: {0: "batch"} for n in ("h", "c", "h_out", "c_out")})
    axes.update({n: dict(seq) for n in OUTPUT_NAMES[2:]})
    return axes


def _export(graph: nn.Module, args: tuple[torch.Tensor, ...], path: Path, sequence: bool) -> None:
    graph.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            graph,
            args,
            str(path),
            dynamo=False,
            opset_version=OPSET,
            input_names=list(INPUT_NAMES),
            output_names=list(OUTPUT_NAMES),
            dynamic_axes=_dynamic_axes(sequence),
        )


def _stamp(path: Path, meta: dict[str, str]) -> None:
    model = onnx.load(str(path))
    del model.metadata_props[:]
    for key, value in meta.items():
        model.metadata_props.add(key=key, value=value)
    model.doc_string = "decay-stream interest-decay model"
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def export_onnx(model: DecayModel, info: ExportInfo, out_dir: Path) -> tuple[Path, Path]:
    """Write the step and sequence graphs with metadata; return their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    model.eval()
    hidden = model.cfg.hidden_size
    step_path, seq_path = out_dir / STEP_FILE, out_dir / SEQUENCE_FILE
    _export(StepGraph(model), _dummy(2, None, hidden), step_path, sequence=False)
    _export(SequenceGraph(model), _dummy(2, 3, hidden), seq_path, sequence=True)
    _stamp(step_path, metadata(model, info, GRAPH_STEP))
    _stamp(seq_path, metadata(model, info, GRAPH_SEQUENCE))
    return step_path, seq_path
