"""The package as users install it: the wheel, in a fresh virtualenv outside the repository.

The wheel is built from a copy of the sources (`pip wheel --no-deps`) and installed with pip into
a new virtualenv whose only other path is the site-packages of the development environment (the
dependencies; its `.pth` files, the editable install among them, are not read from there). From
that virtualenv, with no `DECAY_MODEL_PATH` or `DECAY_POLICY_PATH`, `check`, `worker` against the
session's broker, `score` and `policy simulate` run on the packaged model and policy.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from stream_app.kafka.local_config import NO_CHECKOUT
from stream_app.settings import Settings
from tests.conftest import FIXTURES, REPO_ROOT
from tests.integration.support import replay_and_wait, retail_events

pytestmark = pytest.mark.integration

SAMPLE = FIXTURES / "online_retail_sample.csv"
SOURCES = ("pyproject.toml", "README.md", "stream_app", "export", "models")
#: Settings the package must default by itself: the test never passes them.
PACKAGE_DEFAULTS = ("DECAY_MODEL_PATH", "DECAY_POLICY_PATH")


@dataclass(frozen=True)
class Installed:
    """A virtualenv with the wheel installed, and a folder outside the repository to run in."""

    venv: Path
    workdir: Path

    @property
    def command(self) -> Path:
        return self.venv / "bin" / "decay-stream"

    @property
    def site_packages(self) -> Path:
        return next((self.venv / "lib").glob("python3*/site-packages"))

    def env(self, settings: Settings | None = None) -> dict[str, str]:
        child = {
            k: v for k, v in os.environ.items() if not k.startswith("DECAY_") and k != "PYTHONPATH"
        }
        if settings is not None:
            chosen = settings.to_env()
            child |= {k: v for k, v in chosen.items() if k not in PACKAGE_DEFAULTS}
        return child

    def run(
        self, *args: str, settings: Settings | None = None, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.command), *args], cwd=self.workdir, env=self.env(settings),
            capture_output=True, text=True, timeout=timeout, check=False,
        )  # fmt: skip


def build_wheel(root: Path) -> Path:
    """`pip wheel --no-deps` of a copy of the sources (no build folder left in the checkout)."""
    source = root / "src"
    for name in SOURCES:
        origin = REPO_ROOT / name
        if origin.is_dir():
            shutil.copytree(
                origin, source / name, symlinks=True,
                ignore=shutil.ignore_patterns("__pycache__", "*.png"),
            )  # fmt: skip
        else:
            source.mkdir(parents=True, exist_ok=True)
            shutil.copy2(origin, source / name)
    dist = root / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(dist), str(source)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    return next(dist.glob("decay_stream-*.whl"))


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    root = tmp_path_factory.mktemp("wheel")
    wheel = build_wheel(root)
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    box = Installed(venv, root / "work")
    box.workdir.mkdir()
    (box.site_packages / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    python = str(venv / "bin" / "python")
    subprocess.run(
        [python, "-m", "pip", "install", "--no-deps", "--no-index", "-q", str(wheel)],
        check=True, capture_output=True, cwd=box.workdir, env=box.env(), timeout=300,
    )  # fmt: skip
    yield box


def test_the_wheel_ships_the_model_and_the_policy(installed: Installed) -> None:
    probe = subprocess.run(
        [str(installed.venv / "bin" / "python"), "-c",
         "import sys, stream_app, stream_app.paths as p;"
         "print(stream_app.__file__); print(p.DEFAULT_MODEL_PATH); print(p.DEFAULT_POLICY_PATH);"
         "print(p.CLICKSTREAM_MODEL_PATH); print(*sys.path, sep='\\n')"],
        cwd=installed.workdir, env=installed.env(), capture_output=True, text=True, check=True,
    )  # fmt: skip
    module, model, policy, clickstream, *path = probe.stdout.splitlines()
    inside = str(installed.site_packages)
    for shipped in (module, model, policy, clickstream):
        assert shipped.startswith(inside), shipped
        assert Path(shipped).is_file(), shipped
    # Only the dependencies' folder may lie under the checkout (CI's virtualenv is in it): the
    # checkout's own code is never on the path.
    repo, dependencies = REPO_ROOT.resolve(), Path(sysconfig.get_paths()["purelib"]).resolve()
    assert not [
        entry
        for entry in path
        if entry
        and Path(entry).resolve().is_relative_to(repo)
        and Path(entry).resolve() != dependencies
    ]
    version = installed.run("--version")
    assert version.returncode == 0 and version.stdout.startswith("decay-stream "), version.stderr


def test_check_passes_on_the_package_defaults(installed: Installed, settings: Settings) -> None:
    result = installed.run("check", settings=settings)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"policy: ok ({installed.site_packages}" in result.stdout, result.stdout
    assert f"model: ok ({installed.site_packages}" in result.stdout, result.stdout


def test_the_installed_worker_processes_events(
    installed: Installed, settings: Settings, tmp_path: Path
) -> None:
    log_path = tmp_path / "worker.log"
    with log_path.open("wb") as log:
        worker = subprocess.Popen(
            [str(installed.command), "worker"], cwd=installed.workdir,
            env=installed.env(settings), stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        replay_and_wait(settings, retail_events()[:200], timeout_seconds=180)
        assert worker.poll() is None, log_path.read_text()
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(60)
        except subprocess.TimeoutExpired:
            worker.kill()
    output = log_path.read_text()
    assert "Traceback" not in output, output
    assert "decay model" in output and "decay_step.onnx" in output, output


def test_score_and_simulate_run_from_the_package(installed: Installed) -> None:
    scored = installed.run("score", "--cutoff", "2010-12-15", str(SAMPLE))
    assert scored.returncode == 0, scored.stderr
    header, *rows = scored.stdout.splitlines()
    assert header.startswith("user_id,") and "p_return" in header
    assert len(rows) > 10
    simulated = installed.run("policy", "simulate", "--data", str(SAMPLE), "--days", "30")
    assert simulated.returncode == 0, simulated.stderr
    assert f"policy {installed.site_packages}" in simulated.stdout, simulated.stdout


def test_without_a_broker_or_a_checkout_the_error_says_what_to_set(installed: Installed) -> None:
    """The embedded broker is a development tool of a checkout: an installed worker with no
    DECAY_BOOTSTRAP_SERVERS is refused in one line, by `check` and by `worker` alike."""
    for command in ("check", "worker"):
        result = installed.run(command)
        assert result.returncode == 2, result.stdout + result.stderr
        assert "Traceback" not in result.stderr
        errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
        assert errors == [f"error: {NO_CHECKOUT}"], result.stderr
