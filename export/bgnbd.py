"""BG/NBD (Fader, Hardie & Lee 2005) from its likelihood, fitted with scipy at each cutoff.

Per user at a cutoff: x = repeat visits (visit starts after the first, see
`export.dataset.visit_starts`), t_x = time of the last visit, T = age of the customer, all in
weeks from the first visit. The model is unsupervised (history only), so fitting it on the
events before a cutoff uses no label. P(at least one visit in (T, T+H]) =
P(alive | x, t_x, T) · (1 − ((α+T)/(α+T+H))^(r+x)): a BG/NBD customer only drops out right
after a purchase, so an alive customer stays alive through a silent window.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.optimize import minimize
from scipy.special import gammaln

from export.dataset import EncodedLog, visit_starts
from export.labels import CutoffLabels

F64 = npt.NDArray[np.float64]
_WEEK_SECONDS = 7 * 86_400.0


@dataclass(frozen=True)
class Summary:
    """(x, t_x, T) per labelled user, weeks."""

    x: F64
    t_x: F64
    age: F64


def summarise(enc: EncodedLog, lbl: CutoffLabels) -> Summary:
    """Repeat-visit summary at the cutoff for the users of `lbl`."""
    ts = enc.log.ts_seconds
    visit = visit_starts(enc) & (ts < lbl.cutoff_seconds)
    per_user = np.add.reduceat(visit.astype(np.float64), enc.starts[:-1])[lbl.rows]
    last_visit = np.where(visit, ts, -np.inf)
    last = np.maximum.reduceat(last_visit, enc.starts[:-1])[lbl.rows]
    first = ts[enc.starts[lbl.rows]]
    last = np.where(np.isfinite(last), last, first)
    return Summary(
        x=np.maximum(per_user - 1.0, 0.0),
        t_x=(last - first) / _WEEK_SECONDS,
        age=(lbl.cutoff_seconds - first) / _WEEK_SECONDS,
    )


def negative_log_likelihood(log_params: F64, s: Summary) -> float:
    """−Σ log L(r, α, a, b | x, t_x, T) (paper eq. 6), parameters on the log scale."""
    r, alpha, a, b = np.exp(log_params)
    x, t_x, age = s.x, s.t_x, s.age
    a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    a2 = gammaln(a + b) + gammaln(b + x) - gammaln(b) - gammaln(a + b + x)
    a3 = -(r + x) * np.log(alpha + age)
    a4 = np.where(
        x > 0,
        np.log(a) - np.log(np.maximum(b + x - 1, 1e-12)) - (r + x) * np.log(alpha + t_x),
        -np.inf,
    )
    ll = a1 + a2 + np.logaddexp(a3, a4)
    return float(-ll.sum())


@dataclass(frozen=True)
class BgNbd:
    """Fitted parameters."""

    r: float
    alpha: float
    a: float
    b: float

    def p_alive(self, s: Summary) -> F64:
        """P(alive | x, t_x, T); 1 for a customer without repeats."""
        ratio = ((self.alpha + s.age) / (self.alpha + s.t_x)) ** (self.r + s.x)
        odds = self.a / np.maximum(self.b + s.x - 1.0, 1e-12) * ratio
        out: F64 = np.where(s.x > 0, 1.0 / (1.0 + odds), 1.0)
        return out

    def p_return(self, s: Summary, horizon_days: float) -> F64:
        """P(at least one visit within H days after the cutoff)."""
        h = horizon_days / 7.0
        quiet = ((self.alpha + s.age) / (self.alpha + s.age + h)) ** (self.r + s.x)
        out: F64 = self.p_alive(s) * (1.0 - quiet)
        return out


def fit_bgnbd(s: Summary) -> BgNbd:
    """Maximum likelihood (L-BFGS-B on log parameters)."""
    res = minimize(
        negative_log_likelihood,
        np.log([0.5, 5.0, 0.5, 2.0]),
        args=(s,),
        method="L-BFGS-B",
        bounds=[(-8.0, 8.0)] * 4,
    )
    r, alpha, a, b = np.exp(res.x)
    return BgNbd(float(r), float(alpha), float(a), float(b))
