"""Where P falls to a target inside a bracket of silences, for many rows at once (pure numpy).

The schedule's grid (`levels.TAU_GRID_DAYS`) brackets each level's first crossing after the peak;
this closes in on it.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

#: P of some rows at silences τ (days): `probability(rows, tau)`, τ one per row or (m, K).
Probability = Callable[[np.ndarray, np.ndarray], np.ndarray]

#: A crossing's bracket between two grid points (~1.38x apart) is cut into this many parts,
#: this many times, keeping the first crossing in it; regula falsi steps (Illinois) then close in
#: on it. The due time ends within ~3e-7 of the silence of the crossing (bench/NOTES.md, "Due
#: times by regula falsi"): what 7 rounds of 8 points gave, in 11 evaluations of P per level,
#: not 56.
_BRACKET_POINTS = 4
_BRACKET_ROUNDS = 2
_FALSI_STEPS = 3


def refine_crossings(
    probability: Probability,
    rows: np.ndarray,
    target: np.ndarray,
    bracket: tuple[np.ndarray, np.ndarray],
    p_bracket: tuple[np.ndarray, np.ndarray],
) -> np.ndarray:
    """Per row, the first τ in the bracket (lo, hi] where P(τ) = target, given P(lo) > target >=
    P(hi); `probability(rows, τ)` is P of those rows at τ (one per row, or (m, K))."""
    (lo, hi), picked = bracket, np.arange(rows.size)
    f_lo, f_hi = p_bracket[0] - target, p_bracket[1] - target
    steps = np.arange(1, _BRACKET_POINTS + 1) / _BRACKET_POINTS
    for _ in range(_BRACKET_ROUNDS):
        points = lo[:, None] + (hi - lo)[:, None] * steps[None, :]  # (m, K), the last is hi
        f = probability(rows, points) - target[:, None]
        below = f <= 0
        first = below.argmax(axis=-1)
        found = below[picked, first]
        inside = found & (first > 0)
        lo, f_lo = (np.where(inside, x[picked, first - 1], y) for x, y in ((points, lo), (f, f_lo)))
        hi, f_hi = (np.where(found, x[picked, first], y) for x, y in ((points, hi), (f, f_hi)))
    return _regula_falsi(probability, rows, target, (lo, hi), (f_lo, f_hi))


def _regula_falsi(
    probability: Probability,
    rows: np.ndarray,
    target: np.ndarray,
    bracket: tuple[np.ndarray, np.ndarray],
    f_bracket: tuple[np.ndarray, np.ndarray],
) -> np.ndarray:
    """Illinois steps on brackets where f = P − target has f(lo) > 0 >= f(hi); then the zero of
    the last chord. The same steps for every row: a row's result does not depend on the others."""
    (lo, hi), (f_lo, f_hi) = bracket, f_bracket
    moved = np.zeros(rows.size)  # +1: hi moved last, -1: lo moved last
    for _ in range(_FALSI_STEPS):
        x = _chord_zero(lo, hi, f_lo, f_hi)
        f_x = probability(rows, x) - target
        below = f_x <= 0
        # Illinois: an end kept twice has its f halved, so that end moves too
        f_lo = np.where(below & (moved > 0), 0.5 * f_lo, f_lo)
        f_hi = np.where(~below & (moved < 0), 0.5 * f_hi, f_hi)
        lo, f_lo = np.where(below, lo, x), np.where(below, f_lo, f_x)
        hi, f_hi = np.where(below, x, hi), np.where(below, f_x, f_hi)
        moved = np.where(below, 1.0, -1.0)
    return _chord_zero(lo, hi, f_lo, f_hi)


def _chord_zero(lo: np.ndarray, hi: np.ndarray, f_lo: np.ndarray, f_hi: np.ndarray) -> np.ndarray:
    """Where the chord from (lo, f_lo) to (hi, f_hi) meets 0; the midpoint where that is not
    inside (lo, hi]."""
    x = hi - f_hi * (hi - lo) / (f_hi - f_lo)
    out: np.ndarray = np.where((x > lo) & (x <= hi), x, 0.5 * (lo + hi))
    return out
