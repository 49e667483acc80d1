"""Model tests: a trained small-slice artifact shared by the PyTorch tests."""

from __future__ import annotations

from pathlib import Path

import pytest

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "online_retail_120_customers.csv.xz"


@pytest.fixture(scope="session")
def retail_fixture() -> Path:
    """120 real Online Retail customers (CC BY 4.0, Daqing Chen, UCI ML Repository)."""
    return FIXTURE


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory, retail_fixture: Path):
    """Train → export → evaluate on the fixture slice (a few epochs); returns (model, dir, metrics)."""
    pytest.importorskip("torch")
    from dataclasses import replace

    from export.model import ModelConfig
    from export.pipeline import DATASETS, RunConfig, run
    from export.train import TrainConfig

    out = tmp_path_factory.mktemp("artifact")
    spec = replace(DATASETS["online-retail"], path=retail_fixture)
    cfg = RunConfig(
        data=spec,
        out_dir=out,
        model=ModelConfig(hidden_size=16, components=3),
        train=TrainConfig(epochs=3, patience=2),
        report=True,
        progress=False,
    )
    metrics = run(cfg)
    return out, metrics
