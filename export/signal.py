"""`python -m export signal`: which per-event facts a sequence sees add to the covariate term.

A sequence model can only add to the covariates (`stream_app.model.covariates`) what they do not
summarise. This probe measures that without training one: at each rolling origin it fits the
covariate term (`export.calibrate.fit_term`, L2 strength by validation log-loss) on the
covariates alone and with one group of sequence facts more, and prints the validation log-loss
and ROC-AUC of each. A group "adds" where its validation log-loss, pooled over the origins, is
lower with a 95% interval below 0 (users are the resampled unit: a user's rows at every origin
count together). The L2 strength is chosen on the same validation labels, for the covariates
alone as for each group. The test cutoffs' ROC-AUC is printed for the record only and decides
nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import numpy.typing as npt
from sklearn.metrics import roc_auc_score

from export.calibrate import COVARIATE_C_GRID, Scored, fit_term, history_at
from export.cutoffs import Plan
from export.dataset import EncodedLog, visit_starts
from export.labels import CutoffLabels, cutoff_labels
from stream_app.clock import SECONDS_PER_DAY
from stream_app.model.contract import CATEGORY_BUCKETS
from stream_app.model.covariates import covariates
from stream_app.model.features import EPOCH_WEEKDAY

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
#: Visit gaps counted in the recent-gap trend.
RECENT_GAPS = 3
#: The facts, by group: what a sequence model sees that the covariates do not summarise.
GROUPS: dict[str, tuple[str, ...]] = {
    "gaps": ("log_gap_std", "log_last_gap", "log_last_gap_minus_mean", "log_recent_gap_trend"),
    "amounts": ("log_amount_std", "log_last_amount_minus_mean"),
    "categories": ("log_categories", "category_entropy"),
    "weekday": ("weekday_share",),
}


def _group_stats(values: F64, group: I64, n: int) -> tuple[F64, F64, F64, F64]:
    """Per group of a sorted grouping: count, mean, std and last value (0 where empty)."""
    count = np.bincount(group, minlength=n).astype(np.float64)
    mean = np.bincount(group, values, n) / np.maximum(count, 1.0)
    square = np.bincount(group, values * values, n) / np.maximum(count, 1.0)
    last = np.zeros(n)
    ends = np.append(group[1:] != group[:-1], True) if len(group) else np.zeros(0, bool)
    last[group[ends]] = values[ends]
    return count, mean, np.sqrt(np.maximum(square - mean * mean, 0.0)), last


def _recent_mean(values: F64, group: I64, n: int, k: int) -> F64:
    """Per group, the mean of its last `k` values (0 where empty)."""
    ends = np.append(group[1:] != group[:-1], True) if len(group) else np.zeros(0, bool)
    end_index = np.zeros(n, np.int64)
    end_index[group[ends]] = np.flatnonzero(ends)
    recent = end_index[group] - np.arange(len(group)) < k
    count = np.bincount(group[recent], minlength=n).astype(np.float64)
    out: F64 = np.bincount(group[recent], values[recent], n) / np.maximum(count, 1.0)
    return out


def _shares(keys: I64, user: I64, n: int) -> tuple[F64, F64, F64]:
    """Per user, over the distinct values of `keys`: how many, their entropy, the largest share."""
    width = int(keys.max(initial=0)) + 1
    pairs, counts = np.unique(user * width + keys, return_counts=True)
    owner = pairs // width
    total = np.bincount(owner, counts, n)
    p = counts / np.maximum(total[owner], 1.0)
    distinct = np.bincount(owner, minlength=n).astype(np.float64)
    entropy = np.bincount(owner, -p * np.log(p), n).astype(np.float64)
    top = np.zeros(n)
    np.maximum.at(top, owner, p)
    return distinct, entropy, top


def sequence_facts(enc: EncodedLog, lbl: CutoffLabels) -> dict[str, F64]:
    """Each fact of `GROUPS` for the labelled users, from their events before the cutoff."""
    n = len(enc.users)
    user = np.repeat(np.arange(n), enc.lengths)
    ts = enc.log.ts_seconds
    before = ts < lbl.cutoff_seconds
    visits = np.flatnonzero(visit_starts(enc) & before)
    same = user[visits][1:] == user[visits][:-1]
    gaps = np.log1p(np.diff(ts[visits])[same] / SECONDS_PER_DAY)
    gap_user = user[visits][1:][same]
    gap_count, gap_mean, gap_std, last_gap = _group_stats(gaps, gap_user, n)
    has_gap = gap_count > 0
    priced = np.flatnonzero(before & enc.is_return & (np.nan_to_num(enc.log.price) > 0))
    amounts = np.log1p(enc.log.price[priced])
    _, amount_mean, amount_std, last_amount = _group_stats(amounts, user[priced], n)
    seen = np.flatnonzero(before)
    categories, entropy, _ = _shares(enc.category_bucket[seen] % CATEGORY_BUCKETS, user[seen], n)
    weekday = (np.floor(ts[seen] / SECONDS_PER_DAY) + EPOCH_WEEKDAY) % 7
    _, _, weekday_share = _shares(weekday.astype(np.int64), user[seen], n)
    facts = {
        "log_gap_std": gap_std,
        "log_last_gap": last_gap,
        "log_last_gap_minus_mean": np.where(has_gap, last_gap - gap_mean, 0.0),
        "log_recent_gap_trend": np.where(
            has_gap, _recent_mean(gaps, gap_user, n, RECENT_GAPS) - gap_mean, 0.0
        ),
        "log_amount_std": amount_std,
        "log_last_amount_minus_mean": last_amount - amount_mean,
        "log_categories": np.log1p(categories),
        "category_entropy": entropy,
        "weekday_share": weekday_share,
    }
    return {name: values[lbl.rows] for name, values in facts.items()}


@dataclass(frozen=True)
class Probe:
    """One origin, one set of columns: the term's chosen C and its validation and test scores."""

    test_cutoff: str
    variant: str
    c: float
    val_logloss: float
    val_roc_auc: float
    test_roc_auc: float
    constant: bool  # every added fact is the same for every validation user
    val_user_loss: F64 = field(repr=False, compare=False, default_factory=lambda: np.zeros(0))
    val_users: npt.NDArray[np.object_] = field(
        repr=False, compare=False, default_factory=lambda: np.zeros(0, object)
    )


def _design(enc: EncodedLog, lbl: CutoffLabels, columns: tuple[str, ...]) -> Scored:
    x = covariates(history_at(enc, lbl), lbl.tau_days)
    facts = sequence_facts(enc, lbl) if columns else {}
    extra = [facts[c][:, None] for c in columns]
    return Scored(np.zeros(len(lbl.rows)), np.concatenate([x, *extra], axis=1), lbl.label)


def _predict(weights: F64, intercept: float, s: Scored) -> F64:
    out: F64 = 1.0 / (1.0 + np.exp(-(s.covariates @ weights + intercept)))
    return out


def probe_origin(enc: EncodedLog, plan: Plan, test: datetime, variant: str) -> Probe:
    """The covariate term with one variant's columns at one test cutoff's origin."""
    split = plan.split_for(test)
    columns = GROUPS.get(variant, ())
    h = split.horizon_days
    train = [_design(enc, cutoff_labels(enc, c, h), columns) for c in split.train_cutoffs]
    val_labels = cutoff_labels(enc, split.val_cutoff, h)
    val, val_rows = _design(enc, val_labels, columns), val_labels.rows
    tst = _design(enc, cutoff_labels(enc, split.test_cutoff, h), columns)
    fits = [(c, *fit_term(train, c)) for c in COVARIATE_C_GRID]
    losses = [_user_loss(_predict(w, b, val), val.label).mean() for _, w, b in fits]
    c, w, b = fits[int(np.argmin(losses))]
    p_val = _predict(w, b, val)
    return Probe(split.test_cutoff.date().isoformat(), variant, c, float(min(losses)),
                 float(roc_auc_score(val.label, p_val)),
                 float(roc_auc_score(tst.label, _predict(w, b, tst))),
                 bool(columns) and bool(np.ptp(val.covariates[:, -len(columns):], axis=0).max() == 0),
                 _user_loss(p_val, val.label), enc.users[val_rows])  # fmt: skip


def _user_loss(p: F64, label: npt.NDArray[np.bool_]) -> F64:
    """Each row's log-loss (probabilities clipped to [1e-12, 1 − 1e-12])."""
    q = np.clip(p, 1e-12, 1 - 1e-12)
    out: F64 = -np.where(label, np.log(q), np.log1p(-q))
    return out


def probe(enc: EncodedLog, plan: Plan) -> list[Probe]:
    """Every origin, the covariates alone and with each group of facts."""
    variants = ("covariates", *GROUPS)
    return [probe_origin(enc, plan, t, v) for t in plan.test_cutoffs for v in variants]


def loss_difference(probes: Iterable[Probe], group: str) -> tuple[float, float, float]:
    """A group's validation log-loss minus the covariates', pooled over the origins: the mean per
    row and its 95% interval, users the unit (each user's differences at every origin summed,
    the normal interval of a ratio of sums over users)."""
    rows = list(probes)
    base = {p.test_cutoff: p.val_user_loss for p in rows if p.variant == "covariates"}
    ours = [p for p in rows if p.variant == group]
    diff = np.concatenate([p.val_user_loss - base[p.test_cutoff] for p in ours])
    users = np.concatenate([p.val_users for p in ours]).astype(str)
    _, owner = np.unique(users, return_inverse=True)
    per_user = np.bincount(owner, diff)
    mean = float(diff.mean())
    if len(per_user) < 2:
        return mean, -np.inf, np.inf
    half = 1.96 * float(per_user.std(ddof=1)) * np.sqrt(len(per_user)) / len(diff)
    return mean, mean - half, mean + half


def verdict(probes: Iterable[Probe], group: str) -> str:
    """What a group does: "adds" (pooled interval below 0), "does not add", or "is constant on
    this log" (every one of its facts is the same for every user, e.g. a log without amounts)."""
    rows = list(probes)
    if all(p.constant for p in rows if p.variant == group):
        return "is constant on this log"
    return "adds" if loss_difference(rows, group)[2] < 0.0 else "does not add"


def table(probes: list[Probe], say: Callable[[str], None] = print) -> None:
    """The probe as text: one line per origin and variant, differences to the covariates."""
    base = {p.test_cutoff: p for p in probes if p.variant == "covariates"}
    say("test_cutoff variant     C      val_logloss (diff)   val_auc (diff)    test_auc (diff)")
    for p in probes:
        r = base[p.test_cutoff]
        say(f"{p.test_cutoff}  {p.variant:11s} {p.c:<6g} {p.val_logloss:.4f} "
            f"({p.val_logloss - r.val_logloss:+.4f})  {p.val_roc_auc:.4f} "
            f"({p.val_roc_auc - r.val_roc_auc:+.4f})  {p.test_roc_auc:.4f} "
            f"({p.test_roc_auc - r.test_roc_auc:+.4f})")  # fmt: skip
    for group in GROUPS:
        mean, low, high = loss_difference(probes, group)
        say(
            f"{group}: {verdict(probes, group)}: validation log-loss {mean:+.4f} [95% CI "
            f"{low:+.4f}, {high:+.4f}] against the covariates alone, users resampled over "
            "every origin"
        )
