""".ci/services: the throwaway PostgreSQL and Redis that CI's second stage runs against.

A CI run once failed before any test because another run on the same machine held
the fixed port it started PostgreSQL on. Two sets started side by side must both
come up, each on its own ports, and a server that cannot start must show its log.
"""

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.helpers import ROOT

needs_root_and_servers = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("redis-server") is None or not list(Path("/usr/lib/postgresql").glob("*/bin")),
    reason="needs root and the postgresql and redis-server packages, as .ci/run installs them",
)


@pytest.fixture
def two_dirs():
    """Two directories the postgres user can reach (pytest's own are private to root), as .ci/run makes."""
    dirs = [Path(tempfile.mkdtemp(prefix="desideliver-ci-test.")) for _ in range(2)]
    for d in dirs:
        d.chmod(0o755)
    yield dirs
    for d in dirs:
        services('stop_services "$DIR"', d)
        shutil.rmtree(d, ignore_errors=True)


def services(script: str, directory: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", f"set -euo pipefail; source .ci/services; {script}"],
        cwd=ROOT,
        env={**os.environ, "DIR": str(directory)},
        capture_output=True,
        text=True,
        timeout=120,
    )


@needs_root_and_servers
def test_two_sets_of_ci_services_start_side_by_side_on_their_own_ports(two_dirs: list[Path]) -> None:
    started = [
        services(
            'start_services "$DIR"; echo "$DATABASE_URL $REDIS_URL"; '
            'psql "${DATABASE_URL%/*}/postgres" -Atc "select 1"; redis-cli -u "$REDIS_URL" ping',
            d,
        )
        for d in two_dirs
    ]
    for result in started:
        assert result.returncode == 0, result.stdout + result.stderr
        assert result.stdout.splitlines()[-2:] == ["1", "PONG"]
    urls = [result.stdout.splitlines()[-3] for result in started]
    assert urls[0] != urls[1], urls


@needs_root_and_servers
def test_a_postgresql_that_cannot_start_fails_the_stage_with_its_log(two_dirs: list[Path]) -> None:
    first, second = two_dirs
    taken = services('start_services "$DIR"; echo "$PG_PORT"', first)
    assert taken.returncode == 0, taken.stdout + taken.stderr
    # The port the first set is listening on, as a fixed port was when another run held it.
    port = taken.stdout.splitlines()[-1]
    result = services(f'PG_PORT={port} start_services "$DIR"', second)
    assert result.returncode != 0
    assert "PostgreSQL did not start; its log" in result.stderr
    assert "could not" in result.stderr.split("its log", 1)[1]  # the server's own reason, e.g. bind
