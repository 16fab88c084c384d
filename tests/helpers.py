"""What the tests of every folder share: the checkout, ./inv in a subprocess, free ports, fake commands, races."""

from __future__ import annotations

import base64
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path

from django.db import connection
from rest_framework.test import APIClient

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "Str0ng-enough-pass!"

# ./inv once its .venv exists: the same Program (tasks.main: the task list, "did you mean", unquoted
# manage commands) in this interpreter, without the bootstrap. For a process a test starts itself.
INV = [sys.executable, "-c", "import sys; sys.path.insert(0, sys.argv.pop(1)); import tasks; tasks.main()", str(ROOT)]

# A newcomer's shell: no setting of the project's in the environment and no env file yet.
NEWCOMER = {"PATH": "/usr/bin:/bin", "HOME": str(ROOT), "DESIDELIVER_ENV_FILE": "/nonexistent/.env"}


def inv(
    *args: str,
    env: Mapping[str, str] = NEWCOMER,
    stdin_text: str | None = None,
    timeout: int = 60,
    check: bool = False,
) -> subprocess.CompletedProcess:
    """./inv ARGS run to its end with `env` as its whole environment; its output captured, its input `stdin_text`.

    With check, an exit other than 0 fails the test with the end of what it printed.
    """
    result = subprocess.run(
        [*INV, *args],
        env=dict(env),
        input=stdin_text,
        stdin=subprocess.DEVNULL if stdin_text is None else None,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"inv {' '.join(args)} exited {result.returncode}:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
        )
    return result


def free_port() -> int:
    """A TCP port nothing listens on at loopback now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_status(url: str, login: str = "") -> int:
    """The status a loopback GET of `url` answers, with HTTP basic auth as `login` ("user:password") if given."""
    request = urllib.request.Request(url)  # noqa: S310 (the tests' own http:// URLs)
    if login:
        request.add_header("Authorization", "Basic " + base64.b64encode(login.encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def fake_commands(directory: Path, **scripts: str) -> Path:
    """`directory` with an executable bash script per keyword (the command's name: the script's body), made now.

    Put it first on PATH to stand in for those commands.
    """
    directory.mkdir(exist_ok=True)
    for name, body in scripts.items():
        command = directory / name
        command.write_text(f"#!/bin/bash\n{body}\n")
        command.chmod(0o755)
    return directory


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def race(*calls) -> list[int]:
    """Start every call at once, each in its own thread and database connection; their results, in call order.

    Every call is accounted for: one that raised (a deadlock surfacing as an exception, not a
    status) or did not finish fails the test, instead of leaving only a thread warning.
    """
    barrier = threading.Barrier(len(calls))
    results: dict[int, int] = {}
    errors: dict[int, BaseException] = {}

    def run(index, call):
        barrier.wait()
        try:
            results[index] = call()
        except BaseException as exc:  # reported below, with the call it came from
            errors[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(n, call)) for n, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    if errors:
        index, first = next(iter(sorted(errors.items())))
        raise AssertionError(f"{len(errors)} of {len(calls)} racing calls raised; call {index}: {first!r}") from first
    unfinished = [n for n in range(len(calls)) if n not in results]
    assert not unfinished, f"racing calls {unfinished} did not finish within 60 s"
    return [results[n] for n in range(len(calls))]
