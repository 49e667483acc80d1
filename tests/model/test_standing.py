"""The README's front-page table of the models' standing is the one metrics.json gives."""

from __future__ import annotations

import json

from export.standing import BEGIN, END, REPO, rewrite, row, section

MODELS = REPO / "models"


def test_the_readme_table_is_generated_from_the_shipped_metrics() -> None:
    readme = (REPO / "README.md").read_text()
    assert readme.count(BEGIN) == 1 and readme.count(END) == 1
    assert rewrite(readme, MODELS) == readme, "run `python -m export standing --write`"


def test_each_shipped_model_has_a_line_with_its_verdict() -> None:
    text = section(MODELS)
    for path in MODELS.glob("**/metrics.json"):
        m = json.loads(path.read_text())
        line = row(path.parent.relative_to(REPO).as_posix() + "/", m)
        assert line in text
        met = all(t["met"] for t in m["targets"].values())
        assert line.endswith("| met |") == met
        assert f"{m['test']['mean']['model']['roc_auc']:.4f}" in line


def test_a_missed_target_reads_missed() -> None:
    m = json.loads((MODELS / "metrics.json").read_text())
    m["targets"] = {"a": {"met": True}, "b": {"met": False}}
    assert row("x/", m).endswith("| **missed** (1 of 2 met) |")
    m["targets"] = {"a": {"met": True}}
    assert row("x/", m).endswith("| met |")
