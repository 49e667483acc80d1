"""`python -m export signal`: the sequence facts equal a per-user loop, and the probe's table
has a row per origin and variant and a verdict per group."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from export.__main__ import main
from export.dataset import encode_log, visit_starts
from export.labels import cutoff_labels
from export.signal import GROUPS, RECENT_GAPS, sequence_facts
from stream_app.clock import SECONDS_PER_DAY
from stream_app.data.eventlogs import read_log

pytestmark = pytest.mark.model


def _one_user(
    ts: np.ndarray, visit: np.ndarray, price: np.ndarray, cats: np.ndarray, returns: np.ndarray
) -> dict[str, float]:
    gaps = np.log1p(np.diff(ts[visit]) / SECONDS_PER_DAY)
    amounts = np.log1p(price[returns & (np.nan_to_num(price) > 0)])
    _, cat_counts = np.unique(cats, return_counts=True)
    p = cat_counts / cat_counts.sum()
    weekdays = (np.floor(ts / SECONDS_PER_DAY) + 3) % 7
    has = len(gaps) > 0
    return {
        "log_gap_std": gaps.std() if has else 0.0,
        "log_last_gap": gaps[-1] if has else 0.0,
        "log_last_gap_minus_mean": gaps[-1] - gaps.mean() if has else 0.0,
        "log_recent_gap_trend": gaps[-RECENT_GAPS:].mean() - gaps.mean() if has else 0.0,
        "log_amount_std": amounts.std() if len(amounts) else 0.0,
        "log_last_amount_minus_mean": amounts[-1] - amounts.mean() if len(amounts) else 0.0,
        "log_categories": np.log1p(len(cat_counts)),
        "category_entropy": float(-(p * np.log(p)).sum()),
        "weekday_share": np.bincount(weekdays.astype(int), minlength=7).max() / len(ts),
    }


def _weeks_log(path: Path) -> Path:
    """Ten users, 3 to 12 events each over about three months: visits days apart, bursts
    minutes apart, cancellations, prices and categories that vary."""
    rng = np.random.default_rng(3)
    lines = ["user_id,ts,type,item_id,category_id,price"]
    for u in range(10):
        ts = 1_500_000_000 + int(rng.integers(0, 86_400))
        for _ in range(int(rng.integers(3, 13))):
            ts += int(
                rng.choice([600, 2 * 86_400, 5 * 86_400, 11 * 86_400]) * rng.uniform(0.5, 1.5)
            )
            kind = rng.choice(["purchase", "view", "cart", "cancel"], p=[0.4, 0.3, 0.2, 0.1])
            price = "" if kind in ("view", "cart") else f"{rng.uniform(1, 200):.2f}"
            lines.append(f"u{u},{ts},{kind},i{rng.integers(5)},c{rng.integers(4)},{price}")
    path.write_text("\n".join(lines) + "\n")
    return path


def _check_facts(log: Path, fmt: str, cutoff: datetime, horizon: float) -> dict[str, np.ndarray]:
    enc = encode_log(read_log(log, fmt))
    lbl = cutoff_labels(enc, cutoff, horizon)
    facts = sequence_facts(enc, lbl)
    assert set(facts) == {c for cols in GROUPS.values() for c in cols}
    visit = visit_starts(enc)
    for i, row in enumerate(lbl.rows.tolist()):
        a, b = int(enc.starts[row]), int(lbl.last_index[i]) + 1
        expected = _one_user(enc.log.ts_seconds[a:b], visit[a:b], enc.log.price[a:b],
                             enc.category_bucket[a:b], enc.is_return[a:b])  # fmt: skip
        for name, value in expected.items():
            assert facts[name][i] == pytest.approx(value, abs=1e-9), (name, i)
    return facts


def test_sequence_facts_equal_a_loop_over_users(retail_fixture: Path, tmp_path: Path) -> None:
    _check_facts(retail_fixture, "online-retail", datetime(2011, 6, 1, tzinfo=UTC), 30.0)
    cutoff = datetime.fromtimestamp(1_500_000_000 + 60 * 86_400, tz=UTC)
    facts = _check_facts(_weeks_log(tmp_path / "weeks.csv"), "canonical", cutoff, 7.0)
    for name in ("log_gap_std", "log_recent_gap_trend", "log_amount_std", "category_entropy"):
        assert np.count_nonzero(facts[name]) >= 3, name
    assert (facts["weekday_share"] < 1.0).sum() >= 3


def test_the_probe_prints_every_origin_and_a_verdict_per_group(
    retail_fixture: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["signal", "--data", str(retail_fixture), "--format", "online-retail", "--n-tests", "2"]
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = [line for line in lines if line[:4].isdigit()]
    assert len(rows) == 2 * (1 + len(GROUPS))
    verdicts = [line for line in lines if line.split(":")[0] in GROUPS]
    assert [v.split(":")[0] for v in verdicts] == list(GROUPS)
    assert all(v.split(": ")[1] in ("adds", "does not add") and "95% CI" in v for v in verdicts)


def test_a_log_too_short_to_split_is_one_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "short.csv"
    log.write_text(
        "user_id,ts,type,item_id\nu1,1700000000,purchase,i1\nu1,1700086400,purchase,i1\n"
    )
    assert main(["signal", "--data", str(log), "--format", "canonical"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: cannot split short.csv")
