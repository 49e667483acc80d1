"""What each fit chose, and the check that the shipped model is configured as the origins were.

The rolling origins and the shipped model run one procedure (`export.rolling.train_for`); this
module records its choices (the stacked calibration, the category blend) per origin and for the
shipped model, and stops a run whose shipped model is configured differently from the origins
that report it.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from typing import Any

import numpy as np

from export.calibrate import Stack
from export.rolling import Origin, Trained
from stream_app.model.categories import CategoryBlend
from stream_app.model.survival import Calibration

log = logging.getLogger(__name__)


class ConfigurationError(RuntimeError):
    """The shipped model is not configured as the rolling origins that report it."""


def check_configuration(origins: list[Stack], final: Stack) -> dict[str, Any]:
    """The configurations of the origins' stacks and the shipped model's; an error where they
    differ.

    The configuration is the stack's kind (which columns the served map has). Where the weight of
    logit P is held at its floor in one fit but not in another, the run goes on (the numbers are
    fitted, not configured) and says so in a warning, metrics.json and the card.
    """
    kinds = [o.kind for o in origins]
    if any(k != final.kind for k in kinds):
        raise ConfigurationError(
            f"the shipped model's calibration is {final.kind} but the rolling origins "
            f"used {kinds}: the report would describe a model that is not shipped"
        )
    floors = [o.head_at_floor for o in origins]
    if any(f != final.head_at_floor for f in floors):
        log.warning(
            "the weight of the sequence head is at its floor in %d of the fits (origins %s, "
            "shipped model %s): the head adds nothing where it is",
            sum(floors) + final.head_at_floor, floors, final.head_at_floor,
        )  # fmt: skip
    return {
        "kind": final.kind,
        "same_as_origins": True,
        "head_weight_at_floor": {"origins": floors, "final": final.head_at_floor},
    }


def check_served(
    served: Calibration, blend: CategoryBlend, final: Trained, want: CategoryBlend
) -> None:
    """The ONNX metadata read back by the runtime holds the fitted calibration and blend."""
    fitted = final.calibration
    same = (
        np.isclose(served.a, fitted.a, rtol=1e-9)
        and np.isclose(served.b, fitted.b, rtol=1e-9, atol=1e-12)
        and np.allclose(served.weights, fitted.weights, rtol=1e-9, atol=1e-12)
        and len(served.weights) == len(fitted.weights)
    )
    if not same or asdict(blend) != asdict(want):
        raise ConfigurationError("the exported graph does not carry the fitted calibration/blend")


def fit_rows(origins: list[Origin], final: Trained, blend: CategoryBlend) -> list[dict[str, Any]]:
    """One row per fit (each origin, then the shipped model): what it chose."""
    rows = [
        {"fit": f"origin {o.trained.split.test_cutoff.date()}",
         "fitted_at": o.trained.split.val_cutoff.isoformat(), **o.trained.stack.record(),
         "category_blend": o.ev.params["model_category_blend"]}
        for o in origins
    ]  # fmt: skip
    rows.append({"fit": "shipped", "fitted_at": final.split.val_cutoff.isoformat(),
                 **final.stack.record(), "category_blend": asdict(blend)})  # fmt: skip
    return rows
