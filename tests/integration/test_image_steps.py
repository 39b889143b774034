"""The image's install and entrypoint steps, run outside Docker.

Like the Dockerfile: only pyproject.toml, README.md, service/, consumers/ and config/ are
copied, the package is pip-installed (non-editable) into a fresh venv, and the console script
runs as an unprivileged user from a directory that is not the repo. Dependencies come from the
package index, exactly as in `docker build`.

The venv lives in its own world-readable temp dir rather than tmp_path: pytest keeps its base
temp dir private to its owner, so the unprivileged user could not reach a venv inside it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
IMAGE_CONTEXT = ["pyproject.toml", "README.md", "service", "consumers", "config"]


def as_nobody(argv: list[str]) -> list[str]:
    """argv run as `nobody` when the tests run as root, as the image's USER is not root."""
    if os.geteuid() != 0:
        return argv
    if shutil.which("setpriv"):
        return ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", *argv]
    if shutil.which("runuser"):
        return ["runuser", "-u", "nobody", "--", *argv]
    pytest.skip("running as root without setpriv or runuser to drop privileges")


def usable_python() -> str:
    """A Python >= 3.11 that the unprivileged user can run as itself, to build the venv from,
    as python:3.11-slim's /usr/local/bin/python is. A build under /root (pyenv) is not: its
    binary may still start for `nobody` but then loads another installation's library."""
    candidates = [
        "/usr/local/bin/python3",
        "/usr/bin/python3",
        shutil.which("python3.11"),
        getattr(sys, "_base_executable", sys.executable),
    ]
    probe = "import sys, venv, ensurepip; print(sys.version_info >= (3, 11), sys.version)"
    for python in dict.fromkeys(c for c in candidates if c and Path(c).exists()):
        runs = [
            subprocess.run(  # noqa: S603 - fixed argv
                argv, capture_output=True, text=True, check=False
            )
            for argv in ([python, "-c", probe], as_nobody([python, "-c", probe]))
        ]
        ok = all(run.returncode == 0 and run.stdout.startswith("True") for run in runs)
        if ok and runs[0].stdout == runs[1].stdout:
            return python
    pytest.skip("no Python >= 3.11 with venv that an unprivileged user can run as root does")


@pytest.fixture
def image_root() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="newsalert-image-"))
    root.chmod(0o755)
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def copy_context(dest: Path) -> None:
    dest.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in IMAGE_CONTEXT:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, dest / name, ignore=ignore)
        else:
            shutil.copy2(source, dest / name)


@pytest.mark.timeout(900)
def test_installed_console_script_runs_as_an_unprivileged_user(image_root: Path) -> None:
    src, venv, workdir = image_root / "src", image_root / "venv", image_root / "app"
    copy_context(src)
    workdir.mkdir()

    created = subprocess.run(  # noqa: S603 - fixed argv
        [usable_python(), "-m", "venv", str(venv)], capture_output=True, text=True, check=False
    )
    assert created.returncode == 0, created.stderr
    installed = subprocess.run(  # noqa: S603 - fixed argv
        [
            str(venv / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "--quiet",
            str(src),
        ],
        capture_output=True,
        text=True,
        timeout=840,
        check=False,
        cwd=workdir,
    )
    assert installed.returncode == 0, installed.stdout[-3000:] + installed.stderr[-3000:]

    env = {
        "PATH": f"{venv / 'bin'}:/usr/bin:/bin",
        "HOME": str(workdir),
        "PYTHONUNBUFFERED": "1",
        "NEWSALERT_CONFIG": str(src / "config" / "newsalert.yaml"),
    }

    def entrypoint(*args: str) -> subprocess.CompletedProcess[str]:
        """`newsalert` (the image's ENTRYPOINT) with `args`, unprivileged, in the workdir."""
        return subprocess.run(  # noqa: S603 - fixed argv
            as_nobody([str(venv / "bin" / "newsalert"), *args]),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            cwd=workdir,
            env=env,
        )

    helped = entrypoint("--help")
    assert helped.returncode == 0, helped.stderr
    # The image's roles are the subcommands compose.yaml runs.
    for role in ("run", "poller", "matcher", "notifier", "health"):
        assert role in helped.stdout

    # The image's NEWSALERT_CONFIG points at the shipped config; validating it imports the
    # whole package (watchlist queries compile in consumers/), which --help alone does not.
    checked = entrypoint("check")
    assert checked.returncode == 0, checked.stdout + checked.stderr
