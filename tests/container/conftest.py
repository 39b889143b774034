"""The real image under a real Docker engine, for tests/container.

The session's `image` fixture makes Docker work (installing and starting it as root when
needed), makes or reuses the base image, and builds the checkout's Dockerfile. Without a usable
engine the tests skip locally but fail under CI (CI set), where they must never be skipped.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.container import engine

HERE = Path(__file__).resolve().parent


# The first container test also installs the engine, makes the base image and builds the
# image (minutes when nothing is cached yet); the others keep their own timeouts.
SETUP_TIMEOUT_S = 1800


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    mine = [item for item in items if HERE in item.path.parents]
    for item in mine:
        item.add_marker(pytest.mark.container)
    if mine:
        mine[0].add_marker(pytest.mark.timeout(SETUP_TIMEOUT_S), append=False)


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[None]:
    problem, started = engine.ensure_engine()
    if problem is not None:
        engine.skip_or_fail(problem)
    try:
        yield
    finally:
        if started is not None:  # leave the machine's engine as it was found
            started.terminate()
            started.wait(60)


@pytest.fixture(scope="session")
def image(docker_engine: None, capsys_session: Callable[[str], None]) -> str:
    began = time.monotonic()
    try:
        base = engine.ensure_base()
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
    based = time.monotonic()
    built = engine.build_image(base)
    if built.returncode != 0:
        pytest.fail(f"docker build failed:\n{built.stdout[-4000:]}{built.stderr}", pytrace=False)
    done = time.monotonic()
    size = engine.docker("image", "inspect", "--format", "{{.Size}}", engine.IMAGE).stdout
    capsys_session(
        f"[container] base {base} ready in {based - began:.1f} s; image {engine.IMAGE} built in "
        f"{done - based:.1f} s ({built.stdout.count('Using cache')} cached steps), "
        f"{int(size or 0) / 1e6:.0f} MB"
    )
    return engine.IMAGE


@pytest.fixture(scope="session")
def capsys_session(pytestconfig: pytest.Config) -> Callable[[str], None]:
    """Print a line in the pytest output even when the tests pass."""
    capture = pytestconfig.pluginmanager.getplugin("capturemanager")

    def show(line: str) -> None:
        if capture is None:
            print(line)
            return
        with capture.global_and_fixture_disabled():
            print(f"\n{line}")

    return show


@pytest.fixture
def share_dir() -> Iterator[Path]:
    """A temp folder the container's user can read (pytest's own tmp_path is private)."""
    folder = Path(tempfile.mkdtemp(prefix="newsalert-container-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def containers(image: str) -> Iterator[list[engine.Container]]:
    """Containers a test starts (append them); all are removed at the end of the test."""
    started: list[engine.Container] = []
    try:
        yield started
    finally:
        for container in started:
            container.remove()
