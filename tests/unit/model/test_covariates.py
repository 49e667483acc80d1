"""The serving path's w·x(τ) equals the training path's covariate matrix times the weights."""

from __future__ import annotations

import numpy as np
import pytest

from stream_app.model.covariates import COVARIATE_NAMES, History, covariate_logit, covariates
from stream_app.state.user_state import DECAYED_SIZE


def histories(n: int, rng: np.random.Generator) -> History:
    events = rng.integers(1, 40, n).astype(np.float64)
    return History(
        span_days=rng.exponential(60.0, n) * (events > 1),
        events=events,
        purchases=np.floor(events * rng.uniform(0, 1, n)),
        cancels=rng.integers(0, 3, n).astype(np.float64),
        spend=rng.normal(200.0, 150.0, n),  # negative spend (more refunds) is clipped at 0
        decayed=rng.exponential(2.0, (n, DECAYED_SIZE)) * (rng.uniform(0, 1, (n, 1)) > 0.2),
    )


@pytest.mark.parametrize("zeroed", [(), tuple(range(0, 30, 3)), tuple(range(9, 30))])
@pytest.mark.parametrize("grid", [False, True])
def test_covariate_logit_equals_the_matrix_times_the_weights(
    zeroed: tuple[int, ...], grid: bool
) -> None:
    rng = np.random.default_rng(len(zeroed) + grid)
    history = histories(50, rng)
    weights = rng.normal(0.0, 1.0, len(COVARIATE_NAMES))
    weights[list(zeroed)] = 0.0
    tau = rng.exponential(20.0, (50, 48) if grid else 50)
    tau[..., 0] = 0.0  # right after an event
    expected = covariates(history, tau) @ weights
    got = covariate_logit(history, tau, tuple(weights))
    assert got.shape == tau.shape
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def test_covariate_logit_refuses_weights_of_another_length() -> None:
    history = histories(3, np.random.default_rng(0))
    with pytest.raises(ValueError, match="29 covariate weights for 30"):
        covariate_logit(history, np.zeros(3), (0.0,) * 29)
