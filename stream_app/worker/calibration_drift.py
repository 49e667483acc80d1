"""Online correction of the calibration intercept from the alerts' observed outcomes (optional).

The alerts counted in a window tell how far the served probabilities are from what happened:
the shift that makes their mean predicted P match their return rate, on the logit scale. It is
added to the model's Platt intercept, bounded by `max_shift`, and moves only on windows with
`min_predictions` counted alerts or more.

An alert is counted once its horizon H has passed (`stream_app.schedule.outcomes`), whether
the user came back or not, so a window right after a deployment counts nothing rather than
only the early returns. For the same reason a move is judged only on alerts served after it:
for H after a move the windows are skipped (they hold alerts served with the previous shift,
whose gap the move already took in).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from stream_app.worker.outcome_totals import OutcomeTotals

_EPS = 1e-4


def logit(p: float) -> float:
    """log(p / (1 − p)) of p kept inside (ε, 1 − ε)."""
    q = min(max(p, _EPS), 1.0 - _EPS)
    return math.log(q) - math.log1p(-q)


def version_tally(totals: OutcomeTotals, model_version: str) -> tuple[int, int, float]:
    """(resolved alerts, returned, Σ predicted P) of one model version on every partition held."""
    n = r = 0
    p = 0.0
    for partition in totals.partitions.values():
        for key, tally in partition.alerts.items():
            if key.model_version == model_version:
                n, r, p = n + tally.predictions, r + tally.returned, p + tally.probability_sum
    return n, r, p


@dataclass
class OnlineCalibration:
    """The intercept shift, moved window by window towards the observed return rate."""

    max_shift: float
    min_predictions: int
    #: The model's H and the worker's clock: windows wait for H after a move (0: they do not).
    horizon_seconds: float = 0.0
    clock: Callable[[], float] | None = None
    shift: float = 0.0
    _since: tuple[int, int, float] = (0, 0, 0.0)
    _hold_until: float = -math.inf

    def restart(self, tally: tuple[int, int, float]) -> None:
        """Count windows from `tally` on (a new model, or the totals were rebuilt)."""
        self._since = tally

    def update(self, tally: tuple[int, int, float]) -> float | None:
        """The new shift if the window since the last update moves it by 0.01 or more."""
        now = self.clock() if self.clock is not None else 0.0
        if now < self._hold_until:  # alerts served before the last move: already taken in
            self._since = tally
            return None
        n = tally[0] - self._since[0]
        if n < self.min_predictions:
            return None
        returned, predicted = tally[1] - self._since[1], tally[2] - self._since[2]
        self._since = tally
        gap = logit(returned / n) - logit(predicted / n)
        shift = min(max(self.shift + gap, -self.max_shift), self.max_shift)
        if abs(shift - self.shift) < 0.01:
            return None
        self.shift = shift
        self._hold_until = now + self.horizon_seconds
        return shift
