"""The Invoke task layer: layout, help texts, planners and the executor."""

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from unittest import mock

import pytest
from invoke import MockContext
from invoke.exceptions import Exit

import tasks
from tasks import deps, dev, lint, prod
from tasks import test as test_tasks
from tasks.lib import checks, compose, run
from tasks.lib import stack as _stack
from tasks.lib.compose import one_off, plan_down
from tasks.lib.run import Step, confirm, execute
from tests.helpers import ROOT

COLLECTIONS = {"dev", "db", "prod", "swarm", "test", "lint", "deps", "bench"}


def all_tasks(collection=tasks.ns, prefix=""):
    seen = {}
    for name, task in collection.tasks.items():
        seen.setdefault(id(task), (f"{prefix}{name}", task))
    for name, sub in collection.collections.items():
        for key, value in all_tasks(sub, f"{prefix}{name}.").items():
            seen.setdefault(key, value)
    return seen


# --- layout ---------------------------------------------------------------------


def test_tasks_folder_has_no_init_so_every_importer_sees_tasks_py():
    assert not (ROOT / "tasks" / "__init__.py").exists()
    assert Path(tasks.__file__).resolve() == ROOT / "tasks.py"
    assert Path(dev.__file__).resolve() == ROOT / "tasks" / "dev.py"
    assert hasattr(tasks, "ns")


def test_namespace_has_the_documented_collections():
    assert set(tasks.ns.collections) == COLLECTIONS


@pytest.mark.parametrize("cwd", ["src", "tests", "src/config/settings"])
def test_inv_list_works_from_any_subfolder(cwd):
    result = subprocess.run(
        [sys.executable, "-m", "invoke", "--list"], cwd=ROOT / cwd, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    for name in ("dev.up", "test.run (test)", "lint.run (lint)"):
        assert name in result.stdout


def test_every_task_has_a_docstring_and_every_flag_a_help_text_with_its_default():
    problems = []
    for name, task in all_tasks().values():
        if not (task.__doc__ or "").strip():
            problems.append(f"{name}: no docstring")
        for argument in task.get_arguments():
            if not argument.help:
                problems.append(f"{name} --{argument.name}: no help")
            elif "default" not in argument.help and argument.positional is False:
                problems.append(f"{name} --{argument.name}: help does not state the default")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    ("task", "does"), [(prod.build, "to build"), (prod.check, "of the built prod images to check")]
)
def test_a_tag_flag_says_what_its_task_does_with_the_tag(task, does):
    (tag,) = [argument for argument in task.get_arguments() if argument.name == "tag"]
    assert tag.help.startswith(f"Image tag {does} ")
    assert "deploy" not in tag.help


def test_no_task_is_listed_twice():
    """One function under two names (a collection added twice, a task re-exported) shows in --list twice."""
    names: dict[int, list[str]] = {}

    def walk(collection, prefix=""):
        for name, task in collection.tasks.items():
            names.setdefault(id(task), []).append(f"{prefix}{name}")
        for name, sub in collection.collections.items():
            walk(sub, f"{prefix}{name}.")

    walk(tasks.ns)
    assert [n for n in names.values() if len(n) > 1] == []


# --- planners (pure) ------------------------------------------------------------------


def test_native_up_plan_creates_env_migrates_seeds_then_serves():
    plan = dev.plan_native_up("127.0.0.1", 8123)
    assert "copy .env.example" in plan[0].command
    commands = [s.command for s in plan[1:] if s.action is None]
    assert commands[0].endswith("src/manage.py migrate --noinput")
    assert commands[1].endswith("src/manage.py load_demo_data --if-empty")
    assert commands[2].endswith("src/manage.py runserver 127.0.0.1:8123")
    assert all(s.env["DJANGO_SETTINGS_MODULE"] == "config.settings.local" for s in plan[1:] if s.action is None)
    assert plan[-1].interactive


def test_docker_up_plan_builds_and_waits_for_health(monkeypatch):
    monkeypatch.setenv("COMPOSE_PROJECT_NAME", "unit")
    plan = dev.plan_docker_up(wait_timeout=120, profiles=[])
    up = next(s.command for s in plan if " up " in s.command)
    assert up.startswith("docker compose --project-name unit-dev ")
    assert " up --no-build --detach --wait --wait-timeout 120" in up
    assert "--profile" not in up
    # The one dev image is built once, by one service, before anything starts.
    builds = [s.command for s in plan if " build" in s.command]
    assert len(builds) == 1
    assert builds[0].endswith(" build web")
    assert plan.index(next(s for s in plan if " up " in s.command)) == 3
    assert "load_demo_data --if-empty" in plan[4].command
    with_flower = dev.plan_docker_up(wait_timeout=1, profiles=["flower"])
    assert " --profile flower up " in next(s.command for s in with_flower if " up " in s.command)


def test_down_keeps_volumes_unless_asked_and_stops_every_profile():
    assert "--volumes" not in plan_down(dev.DEV, volumes=False)[0].command
    assert plan_down(dev.DEV, volumes=True)[0].command.endswith("--volumes")
    assert " --profile '*' down " in plan_down(dev.DEV, volumes=False)[0].command  # flower too


def test_one_off_uses_exec_when_running_and_passes_piped_input_without_a_tty(monkeypatch):
    monkeypatch.setattr(sys, "stdin", mock.Mock(isatty=lambda: True))
    monkeypatch.setattr(sys, "stdout", mock.Mock(isatty=lambda: True, write=lambda s: None, flush=lambda: None))
    assert " exec web python manage.py check" in one_off(dev.DEV, "web", ["python", "manage.py", "check"], True).command
    assert " run --rm --no-deps web bash" in one_off(dev.DEV, "web", ["bash"], running=False).command
    monkeypatch.setattr(sys, "stdin", mock.Mock(isatty=lambda: False))
    piped = one_off(dev.DEV, "web", ["python", "manage.py", "shell"], running=True)
    assert " exec -T web " in piped.command
    assert piped.interactive  # standard input is handed through, not closed


def test_test_plans_host_and_docker():
    host = test_tasks.plan_test(select="orders", coverage=True, failfast=True)[0].command
    assert "-m pytest --ds config.settings.test -k orders -x --cov=src" in host
    in_running = test_tasks.plan_test(docker=True, running=True)[0].command
    assert " exec -T -w /app web python -m pytest" in in_running
    assert " run --rm -T -w /app web python -m pytest" in test_tasks.plan_test(docker=True, running=False)[0].command


def test_lint_and_deps_plans():
    names = [s.name for s in checks.plan_lint(fix=False)]
    assert names == ["ruff check", "ruff format", "hadolint every Dockerfile", "bash -n every image's script"]
    # Every image's Dockerfile and script, found, not listed: a new one is linted without a change here.
    assert "docker/postgres/Dockerfile" in checks.hadolint_step().command
    assert "bash -n docker/postgres/pitr-restore.sh" in checks.plan_lint(fix=False)[3].command
    assert "--check" in checks.plan_lint(fix=False)[1].command
    assert "--fix" in checks.plan_lint(fix=True)[0].command
    compiled = [s.command for s in deps.plan_compile(upgrade=True)]
    assert [c.split()[-1] for c in compiled] == [
        "requirements/base.txt",
        "requirements/prod.txt",
        "requirements/dev.txt",
    ]
    assert all("--upgrade" in c for c in compiled)


@pytest.mark.parametrize("name", deps.SETS)
def test_every_pinned_requirement_carries_its_hashes(name):
    """pip then installs only the files that were compiled (hash-checking mode), in the images and in .venv."""
    text = (ROOT / "requirements" / f"{name}.txt").read_text()
    # An entry runs from its unindented line to the next one: its hashes and `# via` lines are indented.
    entries = [e for e in re.split(r"\n(?=[^\s#])", text) if not e.startswith("#")]
    assert len(entries) > 10
    for entry in entries:
        first = entry.split("\n", 1)[0]
        assert "==" in first, f"{name}.txt: {first} is not pinned"
        assert "--hash=sha256:" in entry, f"{name}.txt: {first} has no hash"


# --- the runner -----------------------------------------------------------------------


def test_execute_runs_steps_in_order_from_the_repo_root(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    action = mock.Mock()
    where = tmp_path / "where"
    execute([Step("first", "echo one"), Step("py", "an action", action=action), Step("where", f"pwd > {where}")])
    action.assert_called_once_with()
    out = capsys.readouterr().out
    assert "[1/3] first: echo one" in out
    assert "[3/3] where: pwd" in out
    assert where.read_text().strip() == str(ROOT)


def test_a_failing_step_is_one_line_with_its_exit_code_and_stops_the_plan(tmp_path):
    marker = tmp_path / "never"
    with pytest.raises(Exit) as failure:
        execute([Step("ok", "true"), Step("migrate", "exit 3", hint="read the logs"), Step("never", f"touch {marker}")])
    assert failure.value.code == 3
    assert "✗ 'step 2/3 migrate' failed with exit code 3" in failure.value.message
    assert "next: read the logs" in failure.value.message
    assert not marker.exists()


@pytest.mark.parametrize(
    ("command", "kwargs", "expected"),
    [
        ("exit 4", {}, "failed with exit code 4"),
        ("no-such-program-anywhere", {}, "failed with exit code 127"),
        ("sleep 5", {"timeout": 0.2}, "did not finish within 0s"),
        ("echo detail >&2; exit 1", {"capture": True}, "failed with exit code 1: detail"),
    ],
)
def test_every_kind_of_failure_becomes_one_exit_line(command, kwargs, expected):
    from tasks.lib.run import run

    with pytest.raises(Exit) as failure:
        run(command, step="the step", **kwargs)
    assert expected in failure.value.message
    assert failure.value.message.startswith("✗ 'the step'")


def test_dry_run_runs_nothing(capsys):
    action = mock.Mock()
    execute([Step("a", "rm -rf /data"), Step("b", "x", action=action)], dry_run=True)
    action.assert_not_called()
    assert "rm -rf /data" in capsys.readouterr().out


def test_dry_run_of_a_task_changes_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DESIDELIVER_ENV_FILE", str(tmp_path / ".env"))
    dev.up(MockContext(), native=True, dry_run=True)
    assert not (tmp_path / ".env").exists()
    assert "runserver" in capsys.readouterr().out


def test_failure_through_a_real_task_is_one_readable_line(monkeypatch):
    monkeypatch.setattr(checks, "python", lambda: "false")
    with pytest.raises(Exit, match=r"'step 1/4 ruff check' failed with exit code 1"):
        lint.run(MockContext())


# --- confirmation and docker detection ----------------------------------------------


def test_confirm_without_terminal_refuses_naming_the_target(monkeypatch):
    monkeypatch.setattr(sys, "stdin", mock.Mock(isatty=lambda: False))
    with pytest.raises(Exit) as refused:
        confirm("This deletes every data volume of compose project 'x'.", yes=False)
    assert refused.value.code == 2
    assert "project 'x'" in refused.value.message
    assert "--yes" in refused.value.message
    confirm("anything", yes=True)  # --yes never asks


def test_down_with_volumes_refuses_without_yes_and_runs_nothing(monkeypatch):
    monkeypatch.setattr(sys, "stdin", mock.Mock(isatty=lambda: False))
    c = MockContext()
    with pytest.raises(Exit, match="deletes every data volume"):
        dev.down(c, volumes=True)


def test_native_fallback_when_docker_is_missing(monkeypatch, capsys):
    monkeypatch.setattr(_stack, "docker_problem", lambda: "the docker command is not installed")
    assert dev.use_docker(native=False, docker=False) is False
    out = capsys.readouterr().out
    assert "Docker is not available (the docker command is not installed)" in out
    assert "native embedded stack" in out
    with pytest.raises(Exit, match="--docker was given but the docker command is not installed"):
        dev.use_docker(native=False, docker=True)
    with pytest.raises(Exit, match="Choose one"):
        dev.use_docker(native=True, docker=True)


def test_docker_problem_names_a_missing_binary(monkeypatch):
    monkeypatch.setattr(_stack.shutil, "which", lambda name: None)
    assert _stack.docker_problem() == "the docker command is not installed"


# --- stack facts -----------------------------------------------------------------------


def test_project_name_is_explicit_and_differs_per_checkout(monkeypatch):
    monkeypatch.delenv("COMPOSE_PROJECT_NAME", raising=False)
    name = _stack.stack("dev").project
    assert name.startswith("desideliver-dev-")
    monkeypatch.setattr(_stack, "ROOT", Path("/somewhere/else"))
    assert _stack.stack("dev").project != name
    monkeypatch.setenv("COMPOSE_PROJECT_NAME", "mine")
    assert _stack.stack("prod").project == "mine-prod"


PROD_OWN = "prod's own project"


def share_name(monkeypatch, shared: str) -> str:
    """Set COMPOSE_PROJECT_NAME=`shared`; PROD_OWN stands for the prod project as named without it."""
    if shared == PROD_OWN:
        monkeypatch.delenv("COMPOSE_PROJECT_NAME", raising=False)
        shared = _stack.stack("prod").project
    monkeypatch.setenv("COMPOSE_PROJECT_NAME", shared)
    return shared


@pytest.mark.parametrize("shared", ["", "shop", PROD_OWN])
def test_one_name_in_the_shell_never_makes_dev_and_prod_one_project(monkeypatch, shared):
    """With one project, each `up --remove-orphans` removed the other's services and dev.down --volumes prod's data."""
    share_name(monkeypatch, shared)
    dev_project, prod_project = _stack.stack("dev").project, _stack.stack("prod").project
    assert dev_project != prod_project
    assert dev_project.endswith("-dev") or dev_project.startswith("desideliver-dev-")
    assert prod_project.endswith("-prod") or prod_project.startswith("desideliver-prod-")


@pytest.mark.parametrize("shared", ["shop", PROD_OWN])
def test_dev_down_volumes_names_only_the_dev_project(monkeypatch, capsys, shared):
    shared = share_name(monkeypatch, shared)
    dev.down(MockContext(), volumes=True, dry_run=True)
    words = shlex.split(next(line for line in capsys.readouterr().out.splitlines() if " down " in line))
    assert words[-1] == "--volumes"
    assert words.count("--project-name") == 1
    assert words[words.index("--project-name") + 1] == f"{shared}-dev"


def test_commands_never_inherit_a_project_name_that_is_not_their_own(monkeypatch):
    monkeypatch.setenv("COMPOSE_PROJECT_NAME", "shop")
    show = "printenv COMPOSE_PROJECT_NAME || echo unset"
    # compose would prefer --project-name anyway; no command sees the shell's value at all.
    assert run.output(show, step="show") == "unset"
    # A nested ./inv given a name on purpose (the benchmarks) still gets it.
    assert run.output(show, step="show", env={"COMPOSE_PROJECT_NAME": "bench-1"}) == "bench-1"


def test_unknown_environment_is_rejected():
    with pytest.raises(Exit, match="unknown environment 'staging'"):
        _stack.stack("staging")


def test_env_file_is_created_once_with_a_fresh_secret(tmp_path):
    target = tmp_path / ".env"
    assert _stack.create_env_file("dev", target) is True
    first = _stack.env_values(target)
    assert len(first["SECRET_KEY"]) >= 50
    assert first["SECRET_KEY"] != _stack.env_values(_stack.env_example("dev"))["SECRET_KEY"]
    assert target.stat().st_mode & 0o777 == 0o600
    target.write_text(target.read_text() + "MINE=1\n")
    assert _stack.create_env_file("dev", target) is False
    assert _stack.env_values(target)["MINE"] == "1"


def test_prod_secrets_live_one_per_file_fresh_and_out_of_the_env_file(tmp_path, monkeypatch):
    from tasks.lib import prodplans

    env = tmp_path / ".env.prod"
    monkeypatch.setenv("DESIDELIVER_ENV_FILE", str(env))
    assert _stack.create_env_file("prod", env) is True
    values = _stack.env_values(env)
    assert not set(_stack.SECRET_NAMES) & set(values)  # the example holds no secret
    assert values["LOG_FORMAT"] == "json"
    assert "DJANGO_DEBUG" not in values
    # An env file from before: its secret moves into a file and out of the env file.
    env.write_text(env.read_text() + f"SECRETS_DIR={tmp_path / 'secrets'}\nPOSTGRES_PASSWORD=from-the-old-layout-42\n")
    prodplans.ensure_secrets()
    directory = tmp_path / "secrets"
    assert directory.stat().st_mode & 0o777 == 0o700
    assert (directory / "postgres_password").read_text().strip() == "from-the-old-layout-42"
    assert "POSTGRES_PASSWORD" not in _stack.env_values(env)
    assert len((directory / "secret_key").read_text().strip()) >= 50
    assert (directory / "email_url").read_text().strip() == "consolemail://"
    first = (directory / "secret_key").read_text()
    prodplans.ensure_secrets()
    assert (directory / "secret_key").read_text() == first  # made once, then kept


def test_dev_and_prod_read_their_own_env_files(monkeypatch):
    monkeypatch.delenv("DESIDELIVER_ENV_FILE", raising=False)
    assert _stack.stack("dev").env_file == _stack.ROOT / ".env"
    assert _stack.stack("prod").env_file == _stack.ROOT / ".env.prod"
    assert f"--env-file {_stack.ROOT}/.env.prod " in _stack.stack("prod").compose("ps")
    assert f"--env-file {_stack.ROOT}/.env " in _stack.stack("dev").compose("ps")


def test_a_setting_comes_from_the_environments_own_file(monkeypatch, tmp_path):
    dev_file, prod_file = tmp_path / "dev.env", tmp_path / "prod.env"
    dev_file.write_text("DJANGO_DEBUG=true\n")
    prod_file.write_text("DJANGO_DEBUG=false\n")
    monkeypatch.delenv("DJANGO_DEBUG", raising=False)
    monkeypatch.setattr(_stack, "ENV_FILES", {"dev": str(dev_file), "prod": str(prod_file)})
    assert _stack.stack("dev").setting("DJANGO_DEBUG") == "true"
    assert _stack.stack("prod").setting("DJANGO_DEBUG") == "false"


def test_port_check_names_the_port_and_the_variable(monkeypatch, tmp_path):
    monkeypatch.setenv("DESIDELIVER_ENV_FILE", str(tmp_path / ".env"))
    monkeypatch.setattr(_stack.Stack, "running_services", lambda s: set())
    monkeypatch.setattr(compose, "port_in_use", lambda port: port == 5432)
    with pytest.raises(Exit, match=r"port 5432 \(POSTGRES_HOST_PORT\) is already in use"):
        compose.check_ports(_stack.stack("dev"))


def test_side_by_side_steps_all_run_and_the_first_failure_is_raised_after_both_ended():
    import threading

    from invoke.exceptions import Exit

    from tasks.lib.run import Step, side_by_side

    both_started, finished = threading.Barrier(2, timeout=5), []

    def fail() -> None:
        both_started.wait()  # proves they run at once: one alone would time out here
        raise Exit("✗ the safety backup failed", 1)

    def succeed() -> None:
        both_started.wait()
        finished.append("restore")

    step = side_by_side("backup, and at once restore", Step("backup", action=fail), Step("restore", action=succeed))
    with pytest.raises(Exit, match="the safety backup failed"):
        step.action()
    assert finished == ["restore"]


def test_meanwhile_runs_beside_the_block_and_the_block_ends_after_it():
    import threading

    from tasks.lib.run import meanwhile

    both_started, ended = threading.Barrier(2, timeout=5), []

    def work() -> None:
        both_started.wait()  # proves it runs beside the block: alone it would time out here
        ended.append("work")
        raise RuntimeError("checkpoint refused")

    with meanwhile(work) as background:
        both_started.wait()
    assert ended == ["work"]  # the block did not end before the work did
    with pytest.raises(RuntimeError, match="checkpoint refused"):
        background.result()


def test_dev_describe_reprints_the_running_stacks_urls_and_login_or_says_none_runs(monkeypatch, capsys):
    from tasks.lib import native

    monkeypatch.setattr(dev._stack, "docker_problem", lambda: None)
    monkeypatch.setattr(_stack.Stack, "running_services", lambda self: set())
    with pytest.raises(Exit) as refused:
        dev.description()
    assert "No dev stack is running" in str(refused.value.message)
    assert "./inv dev.up" in str(refused.value.message)
    with pytest.raises(Exit):
        dev.open_api_root()

    def no_browser():
        raise dev.webbrowser.Error("could not locate runnable browser")

    monkeypatch.setattr(dev.webbrowser, "get", no_browser)
    with native.serving(18777):
        text = dev.description()
        dev.open_api_root()
    assert "No web browser found here (set BROWSER to one's command); the API is at http://localhost:18777/api/v1/" in (
        capsys.readouterr().out
    )
    assert "http://localhost:18777/api/v1/" in text
    assert "Demo login: " in text
    assert "natively" in text

    monkeypatch.setattr(_stack.Stack, "running_services", lambda self: {"web", "worker", "flower"})
    text = dev.description()
    assert f"http://localhost:{dev.DEV.setting('WEB_PORT', '8000')}/api/v1/" in text
    assert "Flower:" in text
    assert "natively" not in text


def test_dev_open_opens_the_running_stacks_api_root_in_the_browser_the_user_set(tmp_path):
    """Through ./inv as a person runs it, with BROWSER naming a stand-in that notes what it was asked to open."""
    from tasks.lib import native

    opened = tmp_path / "opened"
    browser = tmp_path / "browser"
    browser.write_text(f'#!/bin/sh\nprintf %s "$1" > {opened}\n')
    browser.chmod(0o755)
    # No docker on PATH: the native server this test marks is the stack found, whatever runs on this machine.
    environ = {**os.environ, "BROWSER": str(browser), "PATH": str(tmp_path)}
    with native.serving(18778):
        result = subprocess.run(
            [str(ROOT / ".venv" / "bin" / "inv"), "dev.open"], cwd=ROOT, env=environ, capture_output=True, text=True
        )
    assert result.returncode == 0, result.stdout + result.stderr
    assert opened.read_text() == "http://localhost:18778/api/v1/"
    assert "Opened http://localhost:18778/api/v1/" in result.stdout
