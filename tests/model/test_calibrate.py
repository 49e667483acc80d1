"""The stacked calibration: the covariate term on the training cutoffs, the head's weight on the
validation cutoff (where its P is out of sample), folded into one served map, no fallback."""

from __future__ import annotations

import numpy as np
import pytest

from export.calibrate import (
    HEAD_WEIGHT_FLOOR,
    PROCEDURE,
    STACKED,
    Scored,
    fit_platt,
    fit_stack,
    fit_with_covariates,
)
from export.choices import ConfigurationError, check_configuration
from stream_app.model.covariates import COVARIATE_NAMES


def _cutoff(rng: np.random.Generator, n: int) -> Scored:
    """Labels that depend on the head's P and on one covariate the head does not see."""
    p_raw = rng.uniform(0.05, 0.6, n)
    x = rng.normal(size=(n, len(COVARIATE_NAMES)))
    z = 1.5 * np.log(p_raw / (1 - p_raw)) + 0.2 + 1.0 * x[:, 3]
    label = rng.uniform(size=n) < 1 / (1 + np.exp(-z))
    return Scored(p_raw, x, label)


def test_the_covariate_term_finds_what_the_head_missed_and_serves_as_fitted() -> None:
    rng = np.random.default_rng(3)
    train, val, test = (
        [_cutoff(rng, 3000) for _ in range(3)],
        _cutoff(rng, 3000),
        _cutoff(rng, 4000),
    )
    cal = fit_with_covariates(train, val)
    assert len(cal.weights) == len(COVARIATE_NAMES) and cal.a > 0
    assert abs(cal.weights[3] - 1.0) < 0.15 and 1.3 < cal.a < 1.7
    others = np.delete(np.asarray(cal.weights), 3)
    assert np.abs(others).max() < 0.15

    def log_loss(p: np.ndarray) -> float:
        y = test.label
        return float(-np.mean(y * np.log(p) + (1 - y) * np.log1p(-p)))

    platt = fit_platt(val.p_raw, val.label)
    assert (
        log_loss(cal.apply(test.p_raw, test.covariates)) < log_loss(platt.apply(test.p_raw)) - 0.02
    )


def test_a_head_that_does_not_rank_is_held_at_its_floor_and_says_so() -> None:
    rng = np.random.default_rng(4)

    def inverted(n: int) -> Scored:
        s = _cutoff(rng, n)
        return Scored(1 - s.p_raw, s.covariates, s.label)  # higher P, fewer returns

    train, val = [inverted(2000)], inverted(2000)
    stack = fit_stack(train, val)
    assert stack.kind == STACKED and stack.head_at_floor
    assert "held at its floor" in stack.line()
    cal = stack.calibration()
    assert len(cal.weights) == len(COVARIATE_NAMES) and 0 < cal.a < 2 * HEAD_WEIGHT_FLOOR
    assert int(np.argmax(np.abs(cal.weights))) == 3 and cal.weights[3] > 0.5  # the term is kept
    record = stack.record()
    assert record["head_weight_at_floor"] is True and record["kind"] == STACKED


def test_the_ablations_are_the_same_fit_without_a_part() -> None:
    rng = np.random.default_rng(5)
    train, val, test = (
        [_cutoff(rng, 3000) for _ in range(2)],
        _cutoff(rng, 3000),
        _cutoff(rng, 3000),
    )
    full, cov, seq = (fit_stack(train, val, head=h, covariates=c)
                      for h, c in ((True, True), (False, True), (True, False)))  # fmt: skip
    assert (cov.kind, seq.kind) == ("covariates_only", "platt_on_logit")
    assert len(cov.weights) == len(COVARIATE_NAMES) and len(seq.weights) == 1
    y = test.label

    def log_loss(p: np.ndarray) -> float:
        return float(-np.mean(y * np.log(p) + (1 - y) * np.log1p(-p)))

    both = log_loss(full.predict(test))
    assert both < log_loss(cov.predict(test)) - 0.02 and both < log_loss(seq.predict(test)) - 0.02
    np.testing.assert_allclose(full.predict(test), full.calibration().apply(test.p_raw,
                               test.covariates), atol=1e-12)  # fmt: skip


def test_a_shipped_model_configured_unlike_its_origins_is_an_error() -> None:
    rng = np.random.default_rng(6)
    train, val = [_cutoff(rng, 1500)], _cutoff(rng, 1500)
    stacked, platt_only = fit_stack(train, val), fit_stack(train, val, covariates=False)
    same = check_configuration([stacked, stacked], stacked)
    assert same["kind"] == STACKED and same["head_weight_at_floor"]["final"] is False
    with pytest.raises(ConfigurationError, match="not shipped"):
        check_configuration([stacked, stacked], platt_only)


def _log_loss(s: Scored, p: np.ndarray) -> float:
    y = s.label
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log1p(-p)))


def test_the_head_weight_is_fitted_where_its_p_is_out_of_sample() -> None:
    """On the training cutoffs the head's P has seen the labels (in sample: nearly perfect); on
    validation and test it is noise. The head must get next to no weight, and the covariate term
    fitted without it must still carry the signal."""
    rng = np.random.default_rng(7)

    def leaky(n: int) -> Scored:
        s = _cutoff(rng, n)
        return Scored(np.where(s.label, 0.9, 0.1) + rng.normal(0, 0.02, n), s.covariates, s.label)

    def noise(n: int) -> Scored:
        s = _cutoff(rng, n)
        return Scored(rng.uniform(0.05, 0.6, n), s.covariates, s.label)

    train, val, test = [leaky(3000) for _ in range(2)], noise(3000), noise(4000)
    full, cov = fit_stack(train, val), fit_stack(train, val, head=False)
    assert full.weights[0] < 0.15, full.line()
    assert int(np.argmax(np.abs(full.weights[1:]))) == 3 and full.weights[1 + 3] > 0.5
    assert _log_loss(test, full.predict(test)) < _log_loss(test, cov.predict(test)) + 0.005


def test_the_recorded_validation_loss_is_out_of_sample_and_says_what_was_chosen() -> None:
    rng = np.random.default_rng(8)
    train, val, test = (
        [_cutoff(rng, 3000) for _ in range(2)],
        _cutoff(rng, 2000),
        _cutoff(rng, 20000),
    )
    stack = fit_stack(train, val)
    in_sample = _log_loss(val, stack.predict(val))
    assert stack.val_logloss >= in_sample  # cross-fitted: never better than the refit's own fit
    assert abs(stack.val_logloss - _log_loss(test, stack.predict(test))) < 0.02
    record = stack.record()
    assert record["procedure"] == PROCEDURE and record["covariate_c"] == stack.c
    assert record["term_weight"] == stack.term_weight and record["val_logloss"] == stack.val_logloss
    line = stack.line()
    assert f"C={stack.c:g}" in line and "cross-fitted val log-loss" in line and "\n" not in line
