"""Shared fixtures: where the real datasets are."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared real datasets; tests that need them skip where the folder is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(
            f"real datasets not found at {SHARED_DATA} (the shared/ folder beside the repo)"
        )
    return SHARED_DATA
