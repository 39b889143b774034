"""The Kafka suite cannot pass with nothing run: without Java or Maven (and no
NEWSALERT_TEST_KAFKA broker) every Kafka test fails with a message saying what to install,
whether or not `CI` is set. ./scripts/test returns pytest's status, so it fails too."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("tools", "ci"),
    [((), None), (("java",), None), (("mvn",), "1"), ((), "true")],
    ids=["nothing-local", "no-maven-local", "no-java-ci", "nothing-ci"],
)
def test_kafka_tests_fail_without_java_or_maven(
    tmp_path: Path, tools: tuple[str, ...], ci: str | None
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in tools:
        found = shutil.which(tool)
        # A stand-in is enough: the check looks for the tools, it does not run them here.
        target = bin_dir / tool
        if found:
            target.symlink_to(found)
        else:
            target.write_text("#!/bin/sh\nexit 1\n")
            target.chmod(0o755)
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"CI", "JAVA_HOME", "NEWSALERT_TEST_KAFKA", "PYTEST_ADDOPTS"}
    }
    env["PATH"] = str(bin_dir)
    if ci is not None:
        env["CI"] = ci
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "tests/kafka/test_pipeline.py",
            "tests/kafka/test_broker_restart.py",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    out = done.stdout + done.stderr
    assert done.returncode == 1, out[-3000:]  # tests failed: not 0 (passed) nor 5 (none run)
    assert "skipped" not in out.splitlines()[-1], out[-3000:]
    assert "the Kafka tests cannot run" in out, out[-3000:]
    if "java" not in tools:
        assert "java is not installed" in out
    if "mvn" not in tools:
        assert "mvn is not installed" in out
    assert "2 failed" in out.splitlines()[-1] or "2 errors" in out.splitlines()[-1], out[-3000:]
