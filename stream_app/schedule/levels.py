"""Alert levels, their thresholds on P(return within H), and the due time of each (pure)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from stream_app.clock import SECONDS_PER_DAY
from stream_app.model.crossings import due_silences
from stream_app.model.survival import Calibration, return_probability
from stream_app.state import ModelState


class AlertLevel(IntEnum):
    """Severity of a decay alert; a silence episode climbs them in order."""

    WARNING = 1
    AT_RISK = 2
    CRITICAL = 3

    @property
    def label(self) -> str:
        """Name on the wire (`warning`, `at_risk`, `critical`)."""
        return self.name.lower()


@dataclass(frozen=True, slots=True)
class Thresholds:
    """P(return within H) at or below which each level fires; strictly decreasing."""

    warning: float = 0.35
    at_risk: float = 0.2
    critical: float = 0.1

    def __post_init__(self) -> None:
        if not 1.0 > self.warning > self.at_risk > self.critical > 0.0:
            raise ValueError("alert thresholds must satisfy 1 > warning > at_risk > critical > 0")

    def of(self, level: AlertLevel) -> float:
        """Threshold of one level."""
        return {AlertLevel.WARNING: self.warning, AlertLevel.AT_RISK: self.at_risk}.get(
            level, self.critical
        )


@dataclass(frozen=True, slots=True)
class DecayModel:
    """What the schedule needs to know about the serving model."""

    horizon_days: float
    calibration: Calibration
    kernel_shapes: tuple[int, ...] = ()  # gamma shape per component; () = all exponential
    model_version: str = ""  # "" = every stored head is this model's

    def shape(self) -> np.ndarray | None:
        """Kernel shapes as the survival functions take them (None: exponential head)."""
        return np.asarray(self.kernel_shapes, np.float64) if self.kernel_shapes else None

    def shape_for(self, state: ModelState) -> np.ndarray | None:
        """The shapes of the model that wrote `state`: this model's for its own heads; a head
        stored by another model version (e.g. the earlier exponential model, still in a
        changelog after an upgrade) keeps the exponential reading until the user's next event."""
        own = not self.model_version or state.version == self.model_version
        return self.shape() if own and len(state.mu) == len(self.kernel_shapes) else None


def _head(model: ModelState) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (
        np.asarray(model.mu, np.float64),
        np.asarray(model.alpha, np.float64),
        np.asarray(model.beta, np.float64),
    )


def probability_after_silence(model: ModelState, decay: DecayModel, silent_seconds: float) -> float:
    """P(any event within H | silent for `silent_seconds`)."""
    mu, alpha, beta = _head(model)
    tau = max(silent_seconds, 0.0) / SECONDS_PER_DAY
    p = return_probability(
        mu, alpha, beta, tau, decay.horizon_days, decay.calibration, decay.shape_for(model)
    )
    return float(p)


def due_times(
    model: ModelState,
    decay: DecayModel,
    thresholds: Thresholds,
    last_event_seconds: float,
    reached: int,
) -> list[tuple[AlertLevel, float]]:
    """(level, due Unix seconds) of every level above `reached` that P will ever cross (for a
    head that peaks, the crossings after the peak)."""
    return due_times_batch([model], decay, thresholds, [last_event_seconds], [reached])[0]


def due_times_batch(
    models: Sequence[ModelState],
    decay: DecayModel,
    thresholds: Thresholds,
    last_event_seconds: Sequence[float],
    reached: Sequence[int],
) -> list[list[tuple[AlertLevel, float]]]:
    """`due_times` of many users at once (one vectorised root search per level)."""
    if not models:
        return []
    taus = _due_silences(
        models, decay, thresholds, [lv for lv in AlertLevel if any(lv > r for r in reached)]
    )
    out: list[list[tuple[AlertLevel, float]]] = []
    for row, (last, done) in enumerate(zip(last_event_seconds, reached, strict=True)):
        due: list[tuple[AlertLevel, float]] = []
        for level in AlertLevel:
            if level <= done:
                continue
            tau_days = taus[level][row]
            if math.isnan(tau_days):
                break  # P's floor stays above this level, so above every higher one too
            due.append((level, last + tau_days * SECONDS_PER_DAY))
        out.append(due)
    return out


def _due_silences(
    models: Sequence[ModelState],
    decay: DecayModel,
    thresholds: Thresholds,
    levels: list[AlertLevel],
) -> dict[AlertLevel, list[float]]:
    """Per level, each user's silence (days) at the crossing; users grouped by head shape."""
    own = np.array([decay.shape_for(m) is not None for m in models])
    out = {level: np.full(len(models), np.nan) for level in levels}
    for group, shape in ((own, decay.shape()), (~own, None)):
        index = np.flatnonzero(group)
        if index.size == 0:
            continue
        mu, alpha, beta = (np.array([getattr(models[int(i)], f) for i in index], np.float64)
                           for f in ("mu", "alpha", "beta"))  # fmt: skip
        for level in levels:
            out[level][index] = due_silences(mu, alpha, beta, decay.horizon_days,
                                             thresholds.of(level), decay.calibration, shape)  # fmt: skip
    return {level: values.tolist() for level, values in out.items()}


def level_at(probability: float, thresholds: Thresholds) -> int:
    """Highest level whose threshold `probability` has reached (0: none)."""
    reached = 0
    for level in AlertLevel:
        if probability <= thresholds.of(level) + 1e-9:  # due times are computed to ~1e-9
            reached = int(level)
    return reached
