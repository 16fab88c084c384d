"""Under CI, the end-to-end suite fails without a usable Docker engine; elsewhere it skips.

A CI run whose engine did not start must not pass having run no end-to-end test. .ci/run sets CI
for that reason (a runner that sets it already, as GitHub's does, keeps its value).
"""

import os
import subprocess
import sys

import pytest

from tests.helpers import ROOT


def e2e_without_an_engine(ci: str | None) -> subprocess.CompletedProcess[str]:
    """One end-to-end module, with `docker` pointed at an engine that does not exist."""
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["DOCKER_HOST"] = "unix:///nonexistent/docker.sock"
    if ci is not None:
        env["CI"] = ci
    return subprocess.run(
        [sys.executable, "-m", "pytest", "--ds", "config.settings.test", "-m", "e2e", "-p", "no:randomly",
         "-p", "no:cacheprovider", "tests/e2e/test_deploy.py"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=180,
    )  # fmt: skip


@pytest.mark.parametrize("ci", ["true", "1"])
def test_under_ci_a_missing_engine_fails_the_end_to_end_suite(ci):
    run = e2e_without_an_engine(ci)
    assert run.returncode != 0, run.stdout
    assert "CI needs a Docker engine for the end-to-end suite" in run.stdout
    assert " passed" not in run.stdout


def test_outside_ci_a_missing_engine_skips_it_saying_why():
    run = e2e_without_an_engine(None)
    assert run.returncode == 0, run.stdout
    assert "skipped" in run.stdout


def test_ci_run_sets_ci_for_the_suite():
    lines = (ROOT / ".ci/run").read_text().splitlines()
    exported = [n for n, line in enumerate(lines) if line.startswith('export CI="${CI:-true}"')]
    e2e = [n for n, line in enumerate(lines) if line.strip() == "./inv test.e2e"]
    assert exported, ".ci/run does not export CI"
    assert e2e, ".ci/run does not run ./inv test.e2e"
    assert exported[0] < e2e[0]
