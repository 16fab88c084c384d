"""A run of ./inv killed mid-operation (an SSH drop, kill -9): the next run undoes what it left, and says so.

The note is written by a real process that has exited by the time the next run
looks (its pid no longer exists), as a killed run's would be; the commands
that undo it are captured instead of run. The kill itself, on a real engine,
is in tests/e2e/test_backup_restore.py
(test_a_restore_killed_while_the_app_is_paused_is_resumed_by_the_next_command).
"""

import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
from invoke import MockContext
from invoke.exceptions import Exit

from tasks import dev, prod
from tasks.lib import journal, lock, rollout
from tasks.lib import stack as _stack
from tasks.lib.db import restores
from tests.helpers import ROOT

DEV, PROD = _stack.stack("dev"), _stack.stack("prod")


@pytest.fixture
def note_file(tmp_path, monkeypatch) -> Path:
    """The stacks' notes and locks under tmp_path, never the checkout's var/ops."""
    monkeypatch.setenv("BACKUP_DIR", str(tmp_path / "backups"))
    path = tmp_path / "ops" / "stack.json"
    monkeypatch.setattr(journal, "path", lambda s: path)
    monkeypatch.setattr(journal, "shown", lambda s: Path("var/ops/stack.json"))
    return path


def left_by_a_dead_run(path: Path, env: str, **undo: list[str]) -> int:
    """journal.note as a run that is then killed: in a process of its own, gone once this returns. Its pid."""
    code = (
        "import json, sys; from pathlib import Path; from tasks.lib import journal, stack; "
        "journal.path = lambda s: Path(sys.argv[1]); "
        "journal.note(stack.stack(sys.argv[2]), sys.argv[3], **json.loads(sys.argv[4]))"
    )
    what = "db.restore" if "paused" in undo else "a rollout"
    subprocess.run([sys.executable, "-c", code, str(path), env, what, json.dumps(undo)], cwd=ROOT, check=True)
    pid = int(json.loads(path.read_text())["by"].split("(pid ")[1].split(",")[0])
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # no such process: nobody will undo it but the next run
    return pid


@pytest.fixture
def engine(monkeypatch) -> list[str]:
    """The commands journal.py runs, captured; the engine says containers c1 and c2 are paused, p1 is the proxy."""
    ran: list[str] = []

    def output(command: str, step: str) -> str:
        ran.append(command)
        return "p1" if " proxy" in command else "c1\nc2"

    monkeypatch.setattr(journal, "output", output)
    monkeypatch.setattr(journal, "run", lambda command, **kwargs: ran.append(command))
    return ran


def test_a_restore_killed_while_the_app_is_paused_is_resumed_by_the_next_operation(note_file, engine, capsys):
    pid = left_by_a_dead_run(note_file, "dev", paused=["web", "worker", "beat"])
    with lock.held(DEV, "db.backup"):
        assert not note_file.exists()  # undone before the operation itself starts
    assert engine[0].endswith(" ps --quiet --status paused web worker beat")
    assert engine[1] == "docker unpause c1 c2"
    said = capsys.readouterr().out.splitlines()
    assert len(said) == 1
    assert said[0].startswith(f"! var/ops/stack.json: db.restore (pid {pid}, since ")
    assert said[0].endswith("died with web, worker, beat paused; unpaused 2 container(s) of web, worker, beat")


def test_a_rollout_killed_while_the_proxy_is_pinned_is_unpinned_by_the_next_operation(note_file, engine, capsys):
    left_by_a_dead_run(note_file, "prod", pinned=["172.20.0.5"])
    with lock.held(PROD, "prod.deploy of :v3"):
        pass
    assert engine[-1] == "docker exec p1 rm -f /etc/nginx/upstream/pinned"
    said = capsys.readouterr().out.splitlines()
    assert len(said) == 1
    assert "a rollout (pid " in said[0]
    assert said[0].endswith(
        "died with the proxy pinned to 172.20.0.5; unpinned the proxy: it follows web's DNS again "
        "(./inv prod.deploy finishes the rollout)"
    )
    assert not note_file.exists()


def test_the_rollout_notes_the_pin_before_pinning_and_clears_it_once_unpinned(note_file, monkeypatch):
    monkeypatch.setattr(rollout, "containers", lambda s, tag, service: {"p1"})
    seen = []
    monkeypatch.setattr(rollout, "docker", lambda *args: seen.append((args[-1][:6], journal.read(PROD).get("pinned"))))
    rollout.route(PROD, "v2", ["172.20.0.5"])
    rollout.route(PROD, "v2", None)
    assert seen == [("touch ", ["172.20.0.5"]), ("rm -f ", ["172.20.0.5"])]
    assert not note_file.exists()


def test_a_dry_run_says_what_a_real_run_would_undo_first(note_file, engine, capsys):
    left_by_a_dead_run(note_file, "dev", paused=["web"])
    with lock.held(DEV, "db.restore of x.dump", dry_run=True):
        pass
    out = capsys.readouterr().out
    assert "died with web paused; unless it is still running, a real run first undoes that:" in out
    assert "[1/1] unpause web: docker compose" in out
    assert "ps --quiet --status paused web | xargs -r docker unpause" in out
    assert engine == []
    assert note_file.exists()


@pytest.mark.parametrize(
    "command", [lambda: dev.ps(MockContext()), lambda: prod.ps(MockContext()), lambda: prod.up(MockContext())]
)
def test_up_and_ps_undo_it_too(note_file, engine, monkeypatch, capsys, command):
    left_by_a_dead_run(note_file, "dev", paused=["web"])
    monkeypatch.setattr(dev, "execute", lambda plan, dry_run=False: None)
    monkeypatch.setattr(prod, "execute", lambda plan, dry_run=False: None)
    command()
    assert "docker unpause c1 c2" in engine
    assert "died with web paused; unpaused 2 container(s) of web" in capsys.readouterr().out
    for s in (DEV, PROD):
        with lock.held(s, "db.backup", wait=0):  # released again
            pass


def test_a_note_of_a_run_still_under_way_is_left_alone(note_file, engine, capsys):
    with lock.held(DEV, "db.restore of x.dump"):
        journal.note(DEV, "db.restore", paused=["web"])
        lock.recover(DEV, "dev.ps")
        assert note_file.exists()
    assert engine == []
    assert "db.restore of x.dump (pid " in capsys.readouterr().out


def test_when_undoing_fails_the_note_stays_and_the_operation_does_not_start(note_file, monkeypatch):
    left_by_a_dead_run(note_file, "dev", paused=["web"])

    def engine_down(command: str, step: str) -> str:
        raise Exit(f"✗ '{step}' failed with exit code 1: Cannot connect to the Docker daemon", code=1)

    monkeypatch.setattr(journal, "output", engine_down)
    started = []
    refused = pytest.raises(Exit, match=r"died with web paused, and undoing that failed \(the note stays")
    with refused, lock.held(DEV, "db.backup"):
        started.append(True)  # pragma: no cover - never reached
    assert started == []
    assert note_file.exists()


def test_a_failed_swap_resumes_the_app_and_clears_the_note():
    swap = restores.Swap.at("desideliver", datetime(2026, 1, 2))
    names = [s.name for s in restores.plan_recover(DEV, swap, ["web"])]
    assert names == ["resume the app services", "clear that note", "drop the scratch database"]
    assert [s.name for s in restores.plan_recover(DEV, swap, [])] == ["drop the scratch database"]
