"""Closed-form survival of the decay head vs numerical integration of its intensity."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from stream_app.model import survival as sv

NODES, WEIGHTS = np.polynomial.legendre.leggauss(64)


def integrate(f, a: float, b: float, pieces: int = 64) -> float:
    """Composite Gauss-Legendre quadrature (exact to ~1e-12 for these smooth integrands)."""
    edges = np.linspace(a, b, pieces + 1)
    total = 0.0
    for lo, hi in itertools.pairwise(edges):
        x = 0.5 * (hi - lo) * NODES + 0.5 * (hi + lo)
        total += 0.5 * (hi - lo) * float(np.dot(WEIGHTS, f(x)))
    return total


def param_grid():
    rng = np.random.default_rng(0)
    for r in (1, 3, 5):
        for scale in (1e-3, 0.1, 2.0):
            mu = rng.uniform(0.1, 1.0, r) * scale * 0.1
            alpha = rng.uniform(0.1, 1.0, r) * scale
            beta = np.exp(rng.uniform(np.log(1e-3), np.log(5.0), r))
            yield mu, alpha, beta


@pytest.mark.parametrize(("mu", "alpha", "beta"), list(param_grid()))
def test_cumulative_hazard_matches_integral(mu, alpha, beta) -> None:
    for tau in (0.0, 0.3, 7.0, 45.0, 200.0):
        closed = float(sv.cumulative_hazard(mu, alpha, beta, tau))
        numeric = integrate(lambda s: sv.intensity(mu, alpha, beta, s), 0.0, tau) if tau else 0.0
        assert abs(closed - numeric) < 1e-6 * max(1.0, abs(numeric))


@pytest.mark.parametrize(("mu", "alpha", "beta"), list(param_grid()))
def test_return_probability_matches_integral(mu, alpha, beta) -> None:
    horizon = 30.0
    for tau in (0.0, 1.0, 20.0, 120.0):
        hazard = integrate(lambda s: sv.intensity(mu, alpha, beta, s), tau, tau + horizon)
        p = float(sv.return_probability(mu, alpha, beta, tau, horizon))
        assert abs(p - (1.0 - np.exp(-hazard))) < 1e-6


def test_category_intensity_sums_to_total() -> None:
    rng = np.random.default_rng(1)
    mu, alpha, beta = (rng.uniform(0.01, 1, (4, 3)) for _ in range(3))
    pi = rng.dirichlet(np.ones(8), size=(4, 3))
    tau = rng.uniform(0, 50, 4)
    lam = sv.category_intensity(mu, alpha, beta, pi, tau)
    np.testing.assert_allclose(lam.sum(-1), sv.intensity(mu, alpha, beta, tau), rtol=1e-12)


def test_probability_is_decreasing_towards_floor() -> None:
    mu, alpha, beta = np.array([0.001, 0.002]), np.array([0.5, 0.05]), np.array([1.0, 0.05])
    grid = np.linspace(0, 2000, 500)
    p = sv.return_probability(
        np.tile(mu, (500, 1)), np.tile(alpha, (500, 1)), np.tile(beta, (500, 1)), grid, 30.0
    )
    assert np.all(np.diff(p) <= 1e-15)
    assert p[-1] == pytest.approx(float(sv.return_probability_floor(mu, 30.0)), abs=1e-9)


def test_calibration_is_monotone_and_invertible() -> None:
    cal = sv.Calibration(0.8, 0.3)
    p = np.linspace(0.01, 0.99, 99)
    q = cal.apply(p)
    assert np.all(np.diff(q) > 0)
    assert cal.invert(float(q[40])) == pytest.approx(p[40], abs=1e-9)
    with pytest.raises(ValueError, match="positive"):
        sv.Calibration(-1.0, 0.0)


def gamma_grid():
    rng = np.random.default_rng(1)
    for shapes in ((1,), (0, 2), (0, 1, 2, 4), (3, 5)):
        r = len(shapes)
        for scale in (1e-2, 0.3, 3.0):
            mu = rng.uniform(0.1, 1.0, r) * scale * 0.05
            alpha = rng.uniform(0.1, 1.0, r) * scale
            beta = np.exp(rng.uniform(np.log(1e-2), np.log(2.0), r))
            yield mu, alpha, beta, np.array(shapes, np.float64)


@pytest.mark.parametrize(("mu", "alpha", "beta", "shape"), list(gamma_grid()))
def test_gamma_kernel_survival_matches_integral(mu, alpha, beta, shape) -> None:
    horizon = 30.0
    lam = lambda s: sv.intensity(mu, alpha, beta, s, shape)  # noqa: E731
    for tau in (0.0, 0.3, 5.0, 40.0, 300.0):
        closed = float(sv.cumulative_hazard(mu, alpha, beta, tau, shape))
        numeric = integrate(lam, 0.0, tau, pieces=256) if tau else 0.0
        assert closed == pytest.approx(numeric, rel=1e-9, abs=1e-12)
        window = float(sv.horizon_hazard(mu, alpha, beta, tau, horizon, shape))
        assert window == pytest.approx(integrate(lam, tau, tau + horizon, 256), abs=1e-6)
        p = float(sv.return_probability(mu, alpha, beta, tau, horizon, shape=shape))
        assert p == pytest.approx(-np.expm1(-integrate(lam, tau, tau + horizon, 256)), abs=1e-6)


def test_gamma_kernel_rises_peaks_and_decays() -> None:
    mu, alpha, beta, shape = np.array([1e-4]), np.array([0.2]), np.array([0.1]), np.array([2.0])
    grid = np.linspace(0.0, 200.0, 2001)
    g = sv.intensity(np.tile(mu, (len(grid), 1)), np.tile(alpha, (len(grid), 1)),
                     np.tile(beta, (len(grid), 1)), grid, shape)  # fmt: skip
    assert g[0] == pytest.approx(1e-4)
    assert grid[np.argmax(g)] == pytest.approx(20.0, abs=0.1)  # mode k/β
    assert g[-1] < g[np.argmax(g)] / 10


def test_all_zero_shapes_are_the_exponential_head() -> None:
    mu, alpha, beta = np.array([0.001, 0.002]), np.array([0.5, 0.05]), np.array([1.0, 0.05])
    zeros = np.zeros(2)
    for tau in (0.0, 1.0, 50.0):
        assert sv.return_probability(mu, alpha, beta, tau, 30.0, shape=zeros) == (
            sv.return_probability(mu, alpha, beta, tau, 30.0)
        )


@pytest.mark.parametrize("shapes", [(0, 1, 2, 4), (3, 0, 0, 1), (1, 1, 1, 1), (0, 0, 0, 2)])
def test_hazard_by_column_has_the_bits_of_the_general_form(shapes: tuple[int, ...]) -> None:
    """Rows sharing their kernel shapes take a per-component path: the same bits as the form
    that computes both forms of every component (the due times must not move)."""
    rng = np.random.default_rng(sum(shapes))
    n, grid, r = 64, 48, len(shapes)
    mu, alpha, beta = (rng.uniform(1e-4, 3.0, (n, 1, r)) for _ in range(3))
    tau = np.broadcast_to(np.concatenate([[0.0], np.geomspace(1e-3, 3650.0, grid - 1)]), (n, grid))
    k = np.broadcast_to(np.asarray(shapes, np.float64), (n, 1, r))
    fast = sv.horizon_hazard(mu, alpha, beta, tau, 7.0, k)
    general = sv._horizon_hazard_any_shapes(mu, alpha, beta, tau[..., None], 7.0, k)
    assert fast.shape == general.shape == (n, grid)
    assert fast.tobytes() == general.tobytes()
    one = sv.horizon_hazard(mu[0, 0], alpha[0, 0], beta[0, 0], 2.5, 7.0, np.asarray(shapes))
    expected = sv._horizon_hazard_any_shapes(
        mu[0, 0], alpha[0, 0], beta[0, 0], np.asarray(2.5)[..., None], 7.0, np.asarray(shapes)
    )
    assert one.tobytes() == expected.tobytes()


def test_rows_with_other_shapes_take_the_general_form() -> None:
    """A row of another model (all-exponential) among gamma rows: per-row shapes are kept."""
    mu, alpha, beta = np.full((2, 2), 0.1), np.full((2, 2), 0.5), np.full((2, 2), 0.3)
    k = np.array([[0.0, 2.0], [0.0, 0.0]])
    out = sv.horizon_hazard(mu, alpha, beta, np.array([1.0, 1.0]), 7.0, k)
    exponential = sv.horizon_hazard(mu[1], alpha[1], beta[1], 1.0, 7.0, None)
    gamma = sv.horizon_hazard(mu[0], alpha[0], beta[0], 1.0, 7.0, k[0])
    assert out[1] == pytest.approx(float(exponential), rel=1e-12)
    assert out[0] == pytest.approx(float(gamma), rel=1e-12)
    assert out[0] != pytest.approx(out[1])
