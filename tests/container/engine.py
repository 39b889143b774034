"""A real Docker engine for tests/container: make it work, build the image, run containers.

- `ensure_engine`: the docker client and a daemon that answers. As root, a missing engine is
  installed with apt-get (docker.io) and `dockerd` is started in the background; the reason it
  cannot be made to work otherwise.
- `build_image`: the base (NEWSALERT_TEST_BASE_IMAGE, else scripts/base-image's cached Debian
  bookworm base, as no registry is reachable here), then the Dockerfile with the legacy builder
  and host networking. The legacy builder keeps its layer cache between runs, so a rebuild
  after a code change reinstalls nothing but the package.
- `Container`: one `docker run -d --network host` of the image, with its logs, health, exit code.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn

import pytest

REPO = Path(__file__).resolve().parents[2]
IMAGE = os.environ.get("NEWSALERT_TEST_IMAGE", "newsalert:test")
DEFAULT_BASE = "newsalert-base:bookworm"
DOCKERD_LOG = Path("/var/log/newsalert-test-dockerd.log")
# Inside the bookworm base: Debian's CAs plus the host's local ones (see scripts/base-image).
BASE_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"


def skip_or_fail(reason: str) -> NoReturn:
    """Skip without a usable engine locally; under CI (CI set) fail, as it must never skip."""
    if os.environ.get("CI"):
        pytest.fail(f"container tests must not be skipped in CI: {reason}", pytrace=False)
    pytest.skip(reason)


def docker(
    *args: str, timeout: float = 120, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - fixed argv
        ["docker", *args],  # noqa: S607 - the docker client on PATH is what is under test
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, **(env or {})},
    )


def _answers() -> bool:
    try:
        return docker("info", "--format", "{{.ServerVersion}}", timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def apt_install(*packages: str) -> str | None:
    """apt-get install `packages`; None when done, else what went wrong."""
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", *packages]):
        done = subprocess.run(  # noqa: S603 - fixed argv
            argv, capture_output=True, text=True, timeout=900, check=False, env=env
        )
        if done.returncode != 0:
            return f"`{' '.join(argv)}` failed: {done.stderr.strip()[-500:]}"
    return None


def ensure_engine() -> tuple[str | None, subprocess.Popen[bytes] | None]:
    """(why Docker cannot be used here or None, the dockerd this started or None)."""
    if _answers():
        return None, None
    root = os.geteuid() == 0
    if shutil.which("dockerd") is None or shutil.which("docker") is None:
        if not root:
            return (
                "no Docker engine, and installing one (apt-get install docker.io) needs root",
                None,
            )
        problem = apt_install("docker.io")
        if problem is not None:
            return problem, None
        if _answers():  # the package's service may have started it
            return None, None
    if not root:
        return "the Docker daemon does not answer, and starting dockerd needs root", None
    DOCKERD_LOG.parent.mkdir(parents=True, exist_ok=True)
    with DOCKERD_LOG.open("ab") as log:
        daemon = subprocess.Popen(
            ["dockerd"],  # noqa: S607 - installed by the distribution
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if _answers():
            return None, daemon
        if daemon.poll() is not None:
            break
        time.sleep(0.5)
    tail = DOCKERD_LOG.read_text(errors="replace").splitlines()[-5:]
    daemon.terminate()
    return "dockerd did not start: " + " | ".join(tail), None


def ensure_base() -> str:
    """The image the Dockerfile's PYTHON_IMAGE should be: made (or found cached) here."""
    base = os.environ.get("NEWSALERT_TEST_BASE_IMAGE")
    if base:
        return base
    if shutil.which("debootstrap") is None and os.geteuid() == 0:
        problem = apt_install("debootstrap")
        if problem is not None:
            raise RuntimeError(problem)
    made = subprocess.run(  # noqa: S603 - our own script
        [str(REPO / "scripts" / "base-image"), DEFAULT_BASE],
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )
    if made.returncode != 0:
        raise RuntimeError(f"scripts/base-image failed:\n{made.stderr[-3000:]}")
    return DEFAULT_BASE


def build_image(base: str) -> subprocess.CompletedProcess[str]:
    """`docker build` of the checkout, exactly as the README's container section says."""
    args = ["build", "--network", "host", "--build-arg", f"PYTHON_IMAGE={base}"]
    if base == DEFAULT_BASE:
        args += ["--build-arg", f"PIP_CERT={BASE_CA_BUNDLE}"]
    if os.environ.get("PIP_INDEX_URL"):
        args += ["--build-arg", "PIP_INDEX_URL"]  # passed on from the environment
    return docker(*args, "-t", IMAGE, str(REPO), timeout=1800, env={"DOCKER_BUILDKIT": "0"})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def config_dir(base: Path) -> Path:
    """A folder the container's user (uid 10001) can read once mounted, for the config."""
    folder = base / f"config-{uuid.uuid4().hex[:8]}"
    folder.mkdir()
    folder.chmod(0o755)
    return folder


class Container:
    """`docker run -d --network host IMAGE ARGS`, removed by `remove()`."""

    def __init__(
        self,
        *args: str,
        config: Path | None = None,
        env: Mapping[str, str] | None = None,
        volumes: Sequence[str] = (),
        options: Sequence[str] = (),
        name: str | None = None,
    ) -> None:
        self.name = name or f"newsalert-test-{uuid.uuid4().hex[:10]}"
        argv = ["run", "-d", "--name", self.name, "--network", "host"]
        if config is not None:
            # Read-only over the image's /app/config, as compose.yaml mounts ./config.
            config.chmod(0o644)
            argv += ["-v", f"{config.parent}:/app/config:ro"]
            if config.name != "newsalert.yaml":
                argv += ["-e", f"NEWSALERT_CONFIG=/app/config/{config.name}"]
        for key, value in (env or {}).items():
            argv += ["-e", f"{key}={value}"]
        for volume in volumes:
            argv += ["-v", volume]
        started = docker(*argv, *options, IMAGE, *args)
        if started.returncode != 0:
            raise AssertionError(f"docker run failed: {started.stderr}")

    def inspect(self) -> dict[str, Any]:
        done = docker("inspect", self.name)
        assert done.returncode == 0, done.stderr
        result: dict[str, Any] = json.loads(done.stdout)[0]
        return result

    def state(self) -> dict[str, Any]:
        state: dict[str, Any] = self.inspect()["State"]
        return state

    def logs(self) -> str:
        done = docker("logs", self.name)
        return done.stdout + done.stderr

    def events(self) -> list[dict[str, Any]]:
        """Its JSON log lines, parsed."""
        found = []
        for line in self.logs().splitlines():
            if line.startswith("{"):
                try:
                    found.append(json.loads(line))
                except ValueError:
                    continue
        return found

    def wait(self, timeout: float = 120) -> int:
        done = docker("wait", self.name, timeout=timeout)
        assert done.returncode == 0, done.stderr
        return int(done.stdout.strip())

    def stop(self, grace: int = 10) -> int:
        """`docker stop -t grace` (SIGTERM, SIGKILL after `grace` s): the exit code."""
        done = docker("stop", "-t", str(grace), self.name, timeout=grace + 60)
        assert done.returncode == 0, done.stderr
        return int(self.state()["ExitCode"])

    def exec(self, *argv: str) -> subprocess.CompletedProcess[str]:
        return docker("exec", self.name, *argv)

    def remove(self) -> None:
        docker("rm", "-f", "-v", self.name)

    def tail(self, lines: int = 30) -> str:
        text = "\n".join(self.logs().splitlines()[-lines:])
        return f"--- container {self.name}:\n{text}"
