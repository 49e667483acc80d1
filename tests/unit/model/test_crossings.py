"""Due times of a peaking head: the crossings after the peak, vectorised and exact to 1e-6 d."""

from __future__ import annotations

import numpy as np
import pytest

from stream_app.model import survival as sv
from stream_app.model.crossings import due_silences

H = 30.0


def _p(mu, alpha, beta, shape, tau, cal=None) -> np.ndarray:
    return sv.return_probability(mu, alpha, beta, tau, H, cal, shape)


@pytest.mark.parametrize("cal", [None, sv.Calibration(0.8, 0.2)])
def test_crossing_after_the_peak_is_the_root(cal) -> None:
    rng = np.random.default_rng(4)
    shape = np.array([0.0, 1.0, 2.0, 4.0])
    mu = rng.uniform(1e-4, 2e-3, (50, 4))
    alpha = rng.uniform(0.01, 0.3, (50, 4))
    beta = np.exp(rng.uniform(np.log(0.02), np.log(1.0), (50, 4)))
    grid = np.concatenate([[0.0], np.geomspace(1e-4, 5e3, 20000)])
    for threshold in (0.35, 0.2, 0.1):
        tau = due_silences(mu, alpha, beta, H, threshold, cal, shape)
        for i in range(len(mu)):
            p = _p(np.tile(mu[i], (len(grid), 1)), np.tile(alpha[i], (len(grid), 1)),
                   np.tile(beta[i], (len(grid), 1)), shape, grid, cal)  # fmt: skip
            peak = int(np.argmax(p))
            if np.isnan(tau[i]):
                assert p[peak:].min() > threshold - 1e-9
                continue
            assert tau[i] >= grid[peak] - 1e-3 * max(grid[peak], 1.0)
            got = float(_p(mu[i], alpha[i], beta[i], shape, tau[i], cal))
            if p[peak] > threshold:  # a real crossing: P is at the threshold there
                assert got == pytest.approx(threshold, abs=1e-6)
            else:  # the peak stays below: due at the peak, never in the dip before it
                assert got <= threshold


def test_batched_equals_one_by_one() -> None:
    rng = np.random.default_rng(5)
    shape = np.array([0.0, 2.0])
    mu, alpha = rng.uniform(1e-4, 1e-3, (20, 2)), rng.uniform(0.01, 0.2, (20, 2))
    beta = np.exp(rng.uniform(np.log(0.02), np.log(0.5), (20, 2)))
    batch = due_silences(mu, alpha, beta, H, 0.2, None, shape)
    one = [due_silences(mu[i : i + 1], alpha[i : i + 1], beta[i : i + 1], H, 0.2, None, shape)[0]
           for i in range(20)]  # fmt: skip
    np.testing.assert_array_equal(batch, np.array(one))


def test_no_alert_inside_the_refractory_dip() -> None:
    # one k=4 kernel: P(0) is low (the dip), rises to a peak near τ = 4/β = 200 d, then decays
    mu, alpha, beta = np.array([[5e-4]]), np.array([[0.05]]), np.array([[0.02]])
    shape = np.array([4.0])
    p0 = float(_p(mu[0], alpha[0], beta[0], shape, 0.0))
    tau = float(due_silences(mu, alpha, beta, H, 0.2, None, shape)[0])
    assert p0 < 0.2 < float(_p(mu[0], alpha[0], beta[0], shape, 180.0))
    assert tau > 180.0
    assert float(_p(mu[0], alpha[0], beta[0], shape, tau)) == pytest.approx(0.2, abs=1e-6)
