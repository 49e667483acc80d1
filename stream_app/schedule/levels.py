"""Alert levels relative to the user, and the due time of each (pure)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from stream_app.clock import SECONDS_PER_DAY
from stream_app.model.covariates import History, covariate_logit, history_of_states
from stream_app.model.survival import Calibration, return_probability
from stream_app.schedule.crossing_search import refine_crossings
from stream_app.state import ModelState, UserState


class AlertLevel(IntEnum):
    """Severity of a decay alert; a silence episode climbs them in order."""

    WARNING = 1
    AT_RISK = 2
    CRITICAL = 3

    @property
    def label(self) -> str:
        """Name on the wire (`warning`, `at_risk`, `critical`)."""
        return self.name.lower()


#: The levels in order (iterating the enum itself is slow on the per-user path).
_LEVELS: tuple[AlertLevel, ...] = tuple(AlertLevel)


@dataclass(frozen=True, slots=True)
class Thresholds:
    """When each level fires, relative to the user: two conditions, both must hold.

    1. The user's P(return within H) has decayed to `warning` / `at_risk` / `critical` times its
       peak after the last event (the peak is P right after it for a decaying head, later for a
       head with a refractory dip: levels are the crossings after the peak, never inside it).
    2. The silence has lasted `min_silence_gaps` of the user's usual gap (mean time between
       their events; `prior_gap_days` for a user with one event so far).
    """

    warning: float = 0.9
    at_risk: float = 0.8
    critical: float = 0.7
    min_silence_gaps: tuple[float, float, float] = (1.0, 1.5, 2.0)
    prior_gap_days: float = 30.0
    #: An alert's prediction resolves as not returned this long after its horizon, so that a
    #: return that happened in time but arrives late (event time vs processing) still counts.
    outcome_grace_seconds: float = 3600.0

    def __post_init__(self) -> None:
        if not 1.0 > self.warning > self.at_risk > self.critical > 0.0:
            raise ValueError("alert thresholds must satisfy 1 > warning > at_risk > critical > 0")
        gaps = self.min_silence_gaps
        if len(gaps) != len(AlertLevel) or not 0.0 <= gaps[0] <= gaps[1] <= gaps[2]:
            raise ValueError("min_silence_gaps must be 3 non-decreasing values >= 0")
        if not self.prior_gap_days > 0:
            raise ValueError("prior_gap_days must be positive")
        if self.outcome_grace_seconds < 0:
            raise ValueError("outcome_grace_seconds must not be negative")

    def of(self, level: AlertLevel) -> float:
        """Ratio to the peak of one level."""
        return (self.warning, self.at_risk, self.critical)[level - 1]

    def gaps_of(self, level: AlertLevel) -> float:
        """Usual gaps of silence one level needs at least."""
        return self.min_silence_gaps[level - 1]


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
        return self.shape() if self.reads_with_own_shapes(state) else None

    def reads_with_own_shapes(self, state: ModelState) -> bool:
        """Whether `shape_for(state)` is this model's shapes (else the exponential reading)."""
        own = not self.model_version or state.version == self.model_version
        return own and len(state.mu) == len(self.kernel_shapes)


#: Silences (days) on which P is evaluated to find its peak and the first crossing after it.
TAU_GRID_DAYS = np.concatenate([[0.0], np.geomspace(1e-3, 3650.0, 47)])


def probability_after_silence(state: UserState, decay: DecayModel, silent_seconds: float) -> float:
    """P(any event within H | silent for `silent_seconds`) of a user with a model state."""
    heads = Heads.of_states([state], decay)
    tau = np.array([max(silent_seconds, 0.0) / SECONDS_PER_DAY])
    return float(heads.probability(np.arange(1), tau)[0])


def usual_gap_seconds(state: UserState) -> float | None:
    """Mean time between the user's events so far (None before a second one)."""
    if state.events_total < 2 or state.first_event_seconds is None:
        return None
    assert state.last_event_seconds is not None
    return (state.last_event_seconds - state.first_event_seconds) / (state.events_total - 1)


class Heads:
    """Head parameters of N users, (N, R) each, their covariate history when the calibration
    has covariate weights, and P on a grid of silences for all of them."""

    def __init__(
        self,
        rates: tuple[np.ndarray, np.ndarray, np.ndarray],
        own_shapes: np.ndarray,
        history: History | None,
        decay: DecayModel,
    ) -> None:
        """`rates` are (mu, alpha, beta), (N, R) float64; `own_shapes[i]`: row i is read with
        the model's kernel shapes (else exponentially, `DecayModel.shape_for`)."""
        self.mu, self.alpha, self.beta = rates
        exponential = np.zeros(self.beta.shape[-1:] if self.beta.ndim == 2 else (0,))
        own = decay.shape()
        if own is None or own.shape != exponential.shape:  # no row reads with own shapes
            own = exponential
        self.shape = np.where(np.asarray(own_shapes, np.bool_)[:, None], own, exponential)
        self.shape = self.shape.reshape(self.beta.shape)
        #: The shapes when every user has the same (the usual case): taken as they are, not per row.
        self.common_shape = (
            self.shape[0] if len(self.shape) and (self.shape == self.shape[0]).all() else None
        )
        self.history = history if decay.calibration.weights else None
        self.decay = decay

    @classmethod
    def of_states(cls, states: Sequence[UserState], decay: DecayModel) -> Heads:
        """The heads of users' states (each with a model state)."""
        models = [_model_of(s) for s in states]
        rates = tuple(
            np.array([getattr(m, name) for m in models], np.float64)
            for name in ("mu", "alpha", "beta")
        )
        own = np.array([decay.reads_with_own_shapes(m) for m in models], np.bool_)
        history = history_of_states(states) if decay.calibration.weights else None
        return cls(rates, own, history, decay)  # type: ignore[arg-type]

    def probability(self, rows: np.ndarray, tau_days: np.ndarray) -> np.ndarray:
        """P of the users `rows` at silences `tau_days` (same length, or a grid of shape (n, G))."""
        shape = (slice(None),) + (None,) * (tau_days.ndim - 1) + (slice(None),)
        mu, alpha, beta = (x[rows][shape] for x in (self.mu, self.alpha, self.beta))
        k = self.shape[rows][shape] if self.common_shape is None else self.common_shape
        calibration = self.decay.calibration
        term = (
            None
            if self.history is None
            else covariate_logit(self.history.take(rows), tau_days, calibration.weights)
        )
        return return_probability(
            mu, alpha, beta, tau_days, self.decay.horizon_days, calibration, k, term=term
        )


def _model_of(state: UserState) -> ModelState:
    if state.model is None:
        raise ValueError("a user without a model state has no return probability")
    return state.model


def peak_probabilities(states: Sequence[UserState], decay: DecayModel) -> np.ndarray:
    """max over τ ≥ 0 of each user's P(return within H | silent τ) (on `TAU_GRID_DAYS`)."""
    if not states:
        return np.zeros(0)
    heads = Heads.of_states(states, decay)
    rows = np.arange(len(states))
    grid = np.broadcast_to(TAU_GRID_DAYS, (len(states), TAU_GRID_DAYS.size))
    out: np.ndarray = heads.probability(rows, grid).max(axis=-1)
    return out


def crossing_days(
    states: Sequence[UserState], decay: DecayModel, ratios: Sequence[float]
) -> np.ndarray:
    """(N, L): the silence (days) at which each user's P first falls to `ratio`·peak after its
    peak, for every ratio; NaN where it never does.

    Every row is computed element-wise, so a user's result does not depend on the other users
    of the batch (the worker's batch and its tick handler agree to the bit).
    """
    if not states:
        return np.zeros((0, len(ratios)))
    return crossings_of(Heads.of_states(states, decay), len(states), ratios)


def crossings_of(heads: Heads, n: int, ratios: Sequence[float]) -> np.ndarray:
    """`crossing_days` of the `n` users of `heads`."""
    size = TAU_GRID_DAYS.size
    rows = np.arange(n)
    p = heads.probability(rows, np.broadcast_to(TAU_GRID_DAYS, (n, size)))
    peak_at = p.argmax(axis=-1)
    targets = np.asarray(ratios, np.float64)[None, :] * p[rows, peak_at][:, None]  # (N, L)
    after_peak = (np.arange(size)[None, :] > peak_at[:, None])[:, None, :]
    below = after_peak & (p[:, None, :] <= targets[:, :, None])  # (N, L, G)
    user, level = np.nonzero(below.any(axis=-1))
    j = below.argmax(axis=-1)[user, level]
    out = np.full((n, len(ratios)), np.nan)
    out[user, level] = refine_crossings(
        heads.probability,
        user,
        targets[user, level],
        (TAU_GRID_DAYS[j - 1], TAU_GRID_DAYS[j]),
        (p[user, j - 1], p[user, j]),
    )
    return out


def due_times(
    state: UserState, decay: DecayModel, thresholds: Thresholds
) -> list[tuple[AlertLevel, float]]:
    """(level, due Unix seconds) of every level above the one reached that will ever fire."""
    return due_times_batch([state], decay, thresholds)[0]


def due_times_batch(
    states: Sequence[UserState], decay: DecayModel, thresholds: Thresholds
) -> list[list[tuple[AlertLevel, float]]]:
    """`due_times` of many users at once (one vectorised search for all of them).

    A level is due at the later of its crossing after the peak and its silence floor; a level
    whose crossing never comes is not due, nor is any higher one.
    """
    scored = [s for s in states if s.model is not None and s.last_event_seconds is not None]
    if not scored:
        return [[] for _ in states]
    crossings = crossing_days(
        scored,
        decay,
        [thresholds.of(level) for level in AlertLevel],
    ).tolist()
    by_state = {id(s): row for s, row in zip(scored, crossings, strict=True)}
    out: list[list[tuple[AlertLevel, float]]] = []
    for state in states:
        row = by_state.get(id(state))
        out.append([] if row is None else _levels_due(state, row, thresholds))
    return out


def _levels_due(
    state: UserState, crossing_days_row: list[float], thresholds: Thresholds
) -> list[tuple[AlertLevel, float]]:
    assert state.last_event_seconds is not None
    gap = usual_gap_seconds(state) or thresholds.prior_gap_days * SECONDS_PER_DAY
    return levels_due(state.last_event_seconds, state.alert_level, gap, crossing_days_row,
                      thresholds)  # fmt: skip


def levels_due(
    last_seconds: float,
    alert_level: int,
    gap_seconds: float,
    crossing_days_row: list[float],
    thresholds: Thresholds,
) -> list[tuple[AlertLevel, float]]:
    """(level, due time) of the levels above `alert_level` of a user whose last event was at
    `last_seconds`, usual gap `gap_seconds` and P's crossings `crossing_days_row`."""
    due: list[tuple[AlertLevel, float]] = []
    for level, tau_days, gaps in zip(
        _LEVELS, crossing_days_row, thresholds.min_silence_gaps, strict=True
    ):
        if math.isnan(tau_days):
            break  # P's floor stays above this level's share of the peak, so above higher ones
        silence = max(tau_days * SECONDS_PER_DAY, gaps * gap_seconds)
        if level > alert_level:
            due.append((level, last_seconds + silence))
    return due


def level_reached(
    state: UserState, decay: DecayModel, thresholds: Thresholds, now_seconds: float
) -> int:
    """Highest level due by `now_seconds` in the current silence (0: none)."""
    reached = state.alert_level
    for level, due in due_times(state, decay, thresholds):
        if due <= now_seconds:
            reached = max(reached, int(level))
    return reached
