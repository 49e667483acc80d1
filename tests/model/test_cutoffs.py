"""Bring your own data: cutoffs picked from the data, clear errors for logs that cannot split."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from export.__main__ import main
from export.bgnbd import fit_bgnbd, negative_log_likelihood, summarise
from export.cutoffs import SplitError, plan_cutoffs
from export.dataset import encode_log
from export.labels import cutoff_labels
from stream_app.data.eventlogs import read_log
from stream_app.events.schema import EventType
from stream_app.model.eventlog import from_rows

pytestmark = pytest.mark.model


def _log(days: float, users: int):
    rng = np.random.default_rng(0)
    t0 = datetime(2024, 1, 1, tzinfo=UTC).timestamp()
    rows = [(f"u{u}", t0 + float(rng.uniform(0, days)) * 86_400, EventType.PURCHASE, "i", None, 1.0)
            for u in range(users) for _ in range(4)]  # fmt: skip
    return from_rows(rows)


def test_default_cutoffs_come_from_the_data(retail_fixture: Path) -> None:
    log = read_log(retail_fixture)
    plan = plan_cutoffs(log, 30.0, 14.0)
    end = datetime.fromtimestamp(log.ts_seconds.max(), tz=UTC)
    assert plan.test_cutoffs[-1] == plan.latest
    assert 30 <= (end - plan.latest).days <= 31
    assert [(b - a).days for a, b in itertools.pairwise(plan.test_cutoffs)] == [30, 30]
    assert plan.first_train.date().isoformat() == "2011-01-01"
    for t in plan.test_cutoffs:
        split = plan.split_for(t)
        assert split.train_cutoffs and split.val_cutoff < t


def test_too_short_and_too_small_logs_say_why() -> None:
    with pytest.raises(SplitError, match=r"spans 19\.9 days"):
        plan_cutoffs(_log(20.0, 100), 7.0, 3.0)
    with pytest.raises(SplitError, match="too small"):
        plan_cutoffs(_log(200.0, 5), 7.0, 3.0)


def test_cli_reports_a_log_that_cannot_split(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "events.csv"
    path.write_text("user_id,ts,type,item_id\nu1,2024-01-01T00:00:00+00:00,purchase,i\n")
    assert main(["train", "--data", str(path), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    assert capsys.readouterr().err.startswith("error: cannot split events.csv")


def test_cli_never_overwrites_a_model_unless_asked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    served = tmp_path / "models"
    served.mkdir()
    (served / "decay_step.onnx").write_bytes(b"served")
    assert main(["train", "--out", str(served), "--quiet"]) == 2
    assert "already holds a model" in capsys.readouterr().err
    assert (served / "decay_step.onnx").read_bytes() == b"served"
    assert main(["train", "--data", "no-such-data", "--out", str(tmp_path / "new")]) == 2
    assert "neither a dataset name" in capsys.readouterr().err


def test_bgnbd_fit_improves_the_likelihood(retail_fixture: Path) -> None:
    enc = encode_log(read_log(retail_fixture))
    lbl = cutoff_labels(enc, datetime(2011, 8, 1, tzinfo=UTC), 30.0)
    s = summarise(enc, lbl)
    fitted = fit_bgnbd(s)
    start = negative_log_likelihood(np.log([0.5, 5.0, 0.5, 2.0]), s)
    best = negative_log_likelihood(np.log([fitted.r, fitted.alpha, fitted.a, fitted.b]), s)
    assert best < start
    p = fitted.p_return(s, 30.0)
    assert ((p >= 0) & (p <= 1)).all()
    assert (s.x >= 0).all() and (s.t_x <= s.age + 1e-9).all()
