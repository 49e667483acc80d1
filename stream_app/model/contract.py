"""The feature and graph contract shared by training (`export/`) and serving (`stream_app`).

This module is the single place that names the model's inputs, outputs and metadata. The
exporter writes these values into the ONNX metadata; `check_model` re-reads them when a model
loads and refuses a model built for another contract.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from stream_app.events.schema import EVENT_TYPES
from stream_app.model.covariates import COVARIATE_NAMES

#: Bump when feature meaning, order or graph signature changes.
CONTRACT_VERSION = "2"
#: ONNX opset of both graphs.
OPSET = 17
#: Hashed category buckets; bucket 0 means "no category".
CATEGORY_BUCKETS = 1024
#: Default return horizon (days) of the probability the worker alerts on.
DEFAULT_HORIZON_DAYS = 30.0
#: Time unit of τ, Δt and the head's rates.
TIME_UNIT = "days"

#: Event-type vocabulary; the `event_type` input indexes into it.
EVENT_TYPE_NAMES: tuple[str, ...] = tuple(t.value for t in EVENT_TYPES)
#: Columns of the `numeric` input, in order (see `stream_app.model.features`).
NUMERIC_FEATURES: tuple[str, ...] = (
    "log_gap_minutes",
    "is_first_event",
    "hour_sin",
    "hour_cos",
    "weekday_sin",
    "weekday_cos",
    "log_amount",
    "has_amount",
    "log_events_before",
    "log_tenure_days",
    "log_mean_gap_days",
    "log_spend_before",
)

# Graph inputs. Step graph: event_type (B,), category_bucket (B,), numeric (B, F), h/c (B, S).
# Sequence graph: the same with a time axis after the batch axis, h/c initial state (B, S).
INPUT_EVENT_TYPE = "event_type"
INPUT_CATEGORY = "category_bucket"
INPUT_NUMERIC = "numeric"
INPUT_H = "h"
INPUT_C = "c"
INPUT_NAMES: tuple[str, ...] = (INPUT_EVENT_TYPE, INPUT_CATEGORY, INPUT_NUMERIC, INPUT_H, INPUT_C)

# Graph outputs. Step: h_out/c_out (B, S); mu/alpha/beta (B, R); pi (B, R, K).
# Sequence: h_out/c_out final state (B, S); mu/alpha/beta (B, T, R); pi (B, T, R, K).
OUTPUT_H = "h_out"
OUTPUT_C = "c_out"
OUTPUT_MU = "mu"
OUTPUT_ALPHA = "alpha"
OUTPUT_BETA = "beta"
OUTPUT_PI = "pi"
OUTPUT_NAMES: tuple[str, ...] = (
    OUTPUT_H,
    OUTPUT_C,
    OUTPUT_MU,
    OUTPUT_ALPHA,
    OUTPUT_BETA,
    OUTPUT_PI,
)

# Metadata keys (ONNX custom metadata; values are strings).
META_CONTRACT = "decay_stream.contract"
META_MODEL_VERSION = "decay_stream.model_version"
META_GRAPH_KIND = "decay_stream.graph_kind"
META_HIDDEN_SIZE = "decay_stream.hidden_size"
META_COMPONENTS = "decay_stream.components"
META_HORIZON_DAYS = "decay_stream.horizon_days"
META_CALIBRATION = "decay_stream.calibration"
META_DATA_FINGERPRINT = "decay_stream.training_data_fingerprint"
#: Optional: JSON list of each component's integer gamma-kernel shape k_r (absent: all 0, the
#: exponential kernels of the first design; see `stream_app.model.survival`).
META_KERNEL_SHAPES = "decay_stream.kernel_shapes"
#: Optional: JSON of `stream_app.model.categories.CategoryBlend` (absent: rank by the head alone).
META_CATEGORY_BLEND = "decay_stream.category_blend"
#: Optional: JSON {"names": [...], "weights": [...]} of the calibration's logistic term over
#: `stream_app.model.covariates.COVARIATE_NAMES` (absent: Platt's map on logit P alone).
META_COVARIATES = "decay_stream.covariates"
GRAPH_STEP = "step"
GRAPH_SEQUENCE = "sequence"


class ContractError(ValueError):
    """A model does not match the contract this code was built for."""


def contract_dict() -> dict[str, Any]:
    """The contract as a JSON-able dict (written into model metadata)."""
    return {
        "version": CONTRACT_VERSION,
        "opset": OPSET,
        "category_buckets": CATEGORY_BUCKETS,
        "time_unit": TIME_UNIT,
        "event_types": list(EVENT_TYPE_NAMES),
        "numeric_features": list(NUMERIC_FEATURES),
        "inputs": list(INPUT_NAMES),
        "outputs": list(OUTPUT_NAMES),
    }


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """What a loaded model declares about itself, after the contract check."""

    model_version: str
    graph_kind: str
    hidden_size: int
    components: int
    horizon_days: float
    calibration: tuple[float, float]
    data_fingerprint: str
    category_blend: str = ""  # JSON of the served category blend; "" = head alone
    kernel_shapes: tuple[int, ...] = ()  # gamma shape k_r per component; () = all exponential
    covariate_weights: tuple[float, ...] = ()  # over COVARIATE_NAMES; () = none


def _require(meta: Mapping[str, str], key: str) -> str:
    if key not in meta:
        raise ContractError(f"model metadata lacks {key!r}; not a decay-stream model?")
    return meta[key]


def _check_names(kind: str, found: Sequence[str], expected: Sequence[str]) -> None:
    if tuple(found) != tuple(expected):
        raise ContractError(f"model {kind} are {list(found)}, contract wants {list(expected)}")


def check_model(
    meta: Mapping[str, str], input_names: Sequence[str], output_names: Sequence[str]
) -> ModelSpec:
    """Check a model's metadata and signature against this contract; raise `ContractError`."""
    declared = json.loads(_require(meta, META_CONTRACT))
    expected = contract_dict()
    diffs = sorted(k for k in expected.keys() | declared.keys() if declared.get(k) != expected[k])
    if diffs:
        detail = ", ".join(
            f"{k}: model={declared.get(k)!r} code={expected.get(k)!r}" for k in diffs
        )
        raise ContractError(f"feature contract mismatch ({detail})")
    _check_names("inputs", input_names, INPUT_NAMES)
    _check_names("outputs", output_names, OUTPUT_NAMES)
    a, b = json.loads(_require(meta, META_CALIBRATION))
    return ModelSpec(
        model_version=_require(meta, META_MODEL_VERSION),
        graph_kind=_require(meta, META_GRAPH_KIND),
        hidden_size=int(_require(meta, META_HIDDEN_SIZE)),
        components=int(_require(meta, META_COMPONENTS)),
        horizon_days=float(_require(meta, META_HORIZON_DAYS)),
        calibration=(float(a), float(b)),
        data_fingerprint=meta.get(META_DATA_FINGERPRINT, ""),
        category_blend=meta.get(META_CATEGORY_BLEND, ""),
        kernel_shapes=_kernel_shapes(meta),
        covariate_weights=_covariate_weights(meta),
    )


def covariates_metadata(weights: Sequence[float]) -> str:
    """The `META_COVARIATES` value for weights over `COVARIATE_NAMES`."""
    if len(weights) != len(COVARIATE_NAMES):
        raise ValueError(f"{len(weights)} covariate weights for {len(COVARIATE_NAMES)} names")
    return json.dumps({"names": list(COVARIATE_NAMES), "weights": [float(w) for w in weights]})


def _covariate_weights(meta: Mapping[str, str]) -> tuple[float, ...]:
    if META_COVARIATES not in meta:
        return ()
    declared = json.loads(meta[META_COVARIATES])
    names, weights = declared.get("names"), declared.get("weights")
    if names != list(COVARIATE_NAMES) or not isinstance(weights, list):
        raise ContractError(
            f"model covariates are {names!r}, this code computes {list(COVARIATE_NAMES)!r}"
        )
    if len(weights) != len(names) or not all(math.isfinite(float(w)) for w in weights):
        raise ContractError("model covariate weights must be one finite number per name")
    return tuple(float(w) for w in weights)


def _kernel_shapes(meta: Mapping[str, str]) -> tuple[int, ...]:
    if META_KERNEL_SHAPES not in meta:
        return ()
    shapes = tuple(int(k) for k in json.loads(meta[META_KERNEL_SHAPES]))
    components = int(_require(meta, META_COMPONENTS))
    if len(shapes) != components or min(shapes, default=0) < 0:
        raise ContractError(f"kernel shapes {shapes} do not fit {components} components")
    return shapes
