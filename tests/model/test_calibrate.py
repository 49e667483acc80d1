"""The calibration's covariate term: fitted on training cutoffs, folded into one served map."""

from __future__ import annotations

import numpy as np

from export.calibrate import Scored, fit_platt, fit_with_covariates
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


def test_a_head_that_does_not_rank_falls_back_to_platt() -> None:
    rng = np.random.default_rng(4)

    def inverted(n: int) -> Scored:
        s = _cutoff(rng, n)
        return Scored(1 - s.p_raw, s.covariates, s.label)  # higher P, fewer returns

    cal = fit_with_covariates([inverted(2000)], inverted(2000))
    assert cal.weights == () and cal.a == 1.0 and cal.b == 0.0
