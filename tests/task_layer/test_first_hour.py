"""A newcomer's first hour: the ./inv command line, readable output, and errors that name the cause."""

import hashlib
import json
import subprocess
import sys

import pytest
from invoke.exceptions import Exit

from tasks import dev, prod
from tasks.lib import checks, compose, run, stack
from tasks.lib.program import join_command_words
from tests.helpers import NEWCOMER, ROOT, fake_commands, inv


def test_bare_inv_lists_the_collections_on_one_screen_and_points_at_every_task():
    result = inv()
    assert result.returncode == 0, result.stderr
    assert "dev [12 tasks]" in result.stdout
    assert "prod [16 tasks]" in result.stdout
    assert len(result.stdout.splitlines()) < 30
    assert "./inv --list lists every task" in result.stdout
    assert "--help TASK" in result.stdout
    assert "Core options" not in result.stdout


def test_the_bootstrap_starts_without_sha256sum_as_on_macos(tmp_path):
    stamp = ROOT / ".venv" / ".requirements.sha256"
    wanted = hashlib.sha256((ROOT / "requirements" / "dev.txt").read_bytes()).hexdigest()
    if not stamp.is_file() or stamp.read_text().strip() != wanted:
        pytest.skip("needs the .venv ./inv built for today's requirements/dev.txt (this run would rebuild it)")
    try:
        runs_here = subprocess.run([ROOT / ".venv" / "bin" / "python", "-c", ""], check=False).returncode == 0
    except OSError:  # its interpreter is a link to a Python this machine does not have
        runs_here = False
    if not runs_here:
        pytest.skip("the checkout's .venv was built for another machine (the host, seen from a container)")
    # macOS ships no sha256sum: a shell then answers 127, as this one does.
    fake_commands(tmp_path, sha256sum="exit 127")
    result = subprocess.run(
        [str(ROOT / "inv"), "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": f"{tmp_path}:/usr/bin:/bin", "HOME": str(ROOT)},
    )
    assert result.returncode == 0, result.stderr
    assert "DesiDeliver" in result.stdout
    assert "preparing .venv" not in result.stderr
    assert stamp.read_text().strip() == wanted


@pytest.mark.parametrize(("typo", "meant"), [("dev.upp", "dev.up"), ("prod.deplyo", "prod.deploy")])
def test_a_typo_gets_a_did_you_mean(typo, meant):
    result = inv(typo)
    assert result.returncode == 1
    assert f"Did you mean: {meant}" in result.stderr


def test_a_mistyped_flag_gets_a_did_you_mean():
    result = inv("dev.up", "--dyr-run")
    assert "Did you mean: --dry-run?" in result.stderr


def test_a_flag_the_task_lacks_is_matched_against_that_tasks_own_flags_only():
    result = inv("db.transfer", "--env")
    assert result.returncode == 1
    assert "db.transfer has no flag --env." in result.stderr
    assert "--env" not in result.stderr.partition("Did you mean:")[2]  # db.backup's, not db.transfer's


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["db.restore", "--file"], "✗ db.restore --file needs a value: Dump to restore: a path, "),
        (["prod.deploy", "--wait-timeout"], "✗ prod.deploy --wait-timeout needs a value: Seconds to wait "),
        (["-D", "abc"], "✗ --list-depth takes a whole number 0 or more, not 'abc'."),
        (["--list-format=xml"], "✗ --list-format 'xml' is not one of: flat, nested, json."),
    ],
)
def test_invokes_parse_errors_are_one_line_naming_the_flag_and_what_it_takes(args, line):
    result = inv(*args)
    assert result.returncode != 0
    assert result.stderr.startswith(line)
    assert len(result.stderr.strip().splitlines()) == 1


def test_manage_takes_the_command_without_quotes():
    result = inv("dev.manage", "-n", "showmigrations", "orders", "--plan")
    assert result.returncode == 0, result.stderr
    assert "manage.py showmigrations orders --plan" in result.stdout  # in the container, or natively


def test_manage_help_prints_help_and_runs_nothing():
    result = inv("dev.manage", "--help")
    assert result.returncode == 0, result.stderr
    assert "Usage: ./inv [--core-opts] dev.manage" in result.stdout
    assert "needs the dev stack" not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("words", "joined"),
    [
        (["dev.manage", "showmigrations", "orders"], ["dev.manage", "showmigrations orders"]),
        (["dev.manage", "-n", "migrate", "--plan"], ["dev.manage", "-n", "migrate --plan"]),
        (["dev.manage", "showmigrations orders"], ["dev.manage", "showmigrations orders"]),
        (["dev.manage", "shell", "-c", "print('a b')"], ["dev.manage", "shell -c 'print('\"'\"'a b'\"'\"')'"]),
        (["dev.ps", "dev.logs"], ["dev.ps", "dev.logs"]),
    ],
)
def test_words_after_a_manage_task_become_its_command(words, joined):
    assert join_command_words(words, {"-n", "--dry-run"}) == joined


def test_restore_without_a_file_says_what_to_pass():
    result = inv("db.restore")
    assert result.returncode != 0
    assert "latest" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(("task", "starter"), [("dev.ps", "./inv dev.up"), ("prod.ps", "./inv prod.deploy")])
def test_ps_before_the_first_start_says_not_started_yet_and_what_starts_it(task, starter):
    result = inv(task)  # its env file does not exist: the first start creates it
    assert result.returncode == 0, result.stderr
    assert f"stack is not started yet: {starter} starts it" in result.stdout
    assert "failed" not in result.stderr


def test_tab_completion_offers_the_projects_tasks_and_a_tasks_own_flags():
    tasks_offered = inv("--complete", "--", "inv", "db.res").stdout.split()
    assert {"db.restore", "dev.up", "prod.deploy"} <= set(tasks_offered)
    flags = inv("--complete", "--", "inv", "db.restore", "--").stdout.split()
    assert {"--env", "--yes", "--dry-run"} <= set(flags)
    assert "--tag" not in flags  # prod.deploy's, not db.restore's


def test_tab_completion_works_the_same_for_the_venvs_inv_and_the_script_binds_it(tmp_path):
    """With .venv/bin on PATH, `inv` is the venv's: the completion script's `complete ... inv` calls it."""
    venv_inv = subprocess.run(
        [str(ROOT / ".venv/bin/inv"), "--complete", "--", "inv", "db.restore", "--"],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=True,
    ).stdout.split()  # fmt: skip
    assert {"--env", "--yes", "--dry-run", "--to"} <= set(venv_inv)
    script = inv("--print-completion-script", "bash", check=True).stdout
    assert "complete -F _complete_inv -o default inv" in script


# --- output a person reads ---------------------------------------------------------


def test_a_quiet_step_shows_one_line_and_keeps_its_output_in_the_log(tmp_path, capsys):
    log = tmp_path / "up.log"
    run.execute([run.Step("noisy", "for i in $(seq 50); do echo line $i; done", quiet=True)], log=log)
    shown = capsys.readouterr().out
    assert len(shown.strip().splitlines()) == 1
    assert "[1/1] noisy ... ✓" in shown
    assert "line 50" in log.read_text()


def test_a_failing_quiet_step_shows_its_last_lines_the_log_and_the_diagnosis(tmp_path):
    log = tmp_path / "up.log"
    failing = run.Step(
        "start", "echo early; echo 'FATAL: it broke'; exit 3", quiet=True, diagnose=lambda: "\n  migrate is exited"
    )
    with pytest.raises(Exit) as error:
        run.execute([failing], log=log)
    message = error.value.message
    assert "FATAL: it broke" in message
    assert f"full log: {log}" in message
    assert message.endswith("migrate is exited")
    assert error.value.code == 3


def test_the_summary_shows_working_urls_the_demo_login_and_next_steps(monkeypatch):
    monkeypatch.setenv("WEB_PORT", "8123")
    text = compose.summary(dev.DEV, extra=(dev.flower_line(),))
    assert "http://localhost:8123/api/v1/  (lists the endpoints)" in text
    assert "demo@desideliver.local / demo-pass-2024" in text
    assert "createsuperuser" in text
    assert "./inv test" in text
    assert "Flower:  http://localhost:" in text


def test_a_start_failure_names_the_failed_service_its_output_and_the_fix(monkeypatch):
    containers = [
        {"Service": "db", "State": "running", "Health": "healthy", "ExitCode": 0},
        {"Service": "migrate", "State": "exited", "Health": "", "ExitCode": 1},
    ]
    password_error = 'FATAL:  password authentication failed for user "desideliver"\n'

    def fake_run(command, **kwargs):
        out = "\n".join(json.dumps(c) for c in containers) if " ps " in command else password_error
        return subprocess.CompletedProcess(command, 0, out, "")

    monkeypatch.setattr(run, "run", fake_run)
    report = compose.diagnose(stack.stack("dev"))
    assert "migrate is exited" in report
    assert "password authentication failed" in report
    assert "POSTGRES_PASSWORD" in report
    assert "dev.down --volumes" in report
    assert "db is" not in report


def test_prod_config_masks_every_secret_unless_asked(monkeypatch, tmp_path, capfd):
    env = tmp_path / ".env.prod"
    env.write_text(f"SECRETS_DIR={tmp_path / 'secrets'}\n")
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "secret_key").write_text("a-very-secret-signing-key-0123\n")
    (tmp_path / "secrets" / "postgres_password").write_text("pg-password-4567\n")
    monkeypatch.setenv("DESIDELIVER_ENV_FILE", str(env))
    rendered = "services:\n  web:\n    SECRET_KEY: a-very-secret-signing-key-0123\n    PW: pg-password-4567\n"
    assert checks.masked(rendered).count("********") == 2
    # The task's own step runs, with `docker compose config` swapped for a command printing what it would.
    printed = tmp_path / "rendered.yaml"
    printed.write_text(rendered)
    monkeypatch.setattr(prod, "compose_step", lambda name, tag, *args: run.Step(name, f"cat {printed}"))

    prod.config.body(None)
    shown = capfd.readouterr().out
    assert "SECRET_KEY: ********" in shown
    assert "PW: ********" in shown
    assert "a-very-secret" not in shown
    assert "pg-password-4567" not in shown

    prod.config.body(None, show_secrets=True)
    shown = capfd.readouterr().out
    assert "SECRET_KEY: a-very-secret-signing-key-0123" in shown
    assert "PW: pg-password-4567" in shown


def test_pytest_says_the_deselected_tests_are_the_end_to_end_ones():
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "--co", "tests/e2e/test_dev_stack.py", "--ds", "config.settings.test"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "deselected: the end-to-end tests" in result.stdout
    assert "./inv test.e2e" in result.stdout


def test_a_breakpoint_in_dev_waits_for_dev_attach():
    import yaml

    web = yaml.safe_load((ROOT / "compose" / "dev" / "compose.yaml").read_text())["services"]["web"]
    assert web["stdin_open"] is True
    assert web["tty"] is True
    result = inv("dev.attach", "-n")
    assert result.returncode == 0, result.stderr
    assert "attach --sig-proxy=false web" in result.stdout


def test_the_native_fallback_serves_on_web_port_like_the_docker_stack(tmp_path):
    env = tmp_path / ".env"
    env.write_text("WEB_PORT=8123\n")
    result = inv("dev.up", "--native", "-n", env={**NEWCOMER, "DESIDELIVER_ENV_FILE": str(env)})
    assert result.returncode == 0, result.stderr
    assert "runserver 127.0.0.1:8123" in result.stdout


def test_the_live_check_names_a_container_whose_inspect_shows_a_secret(monkeypatch, tmp_path):
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "redis_password").write_text("a-leaked-redis-password\n")
    env = tmp_path / ".env.prod"
    env.write_text(f"SECRETS_DIR={tmp_path / 'secrets'}\n")
    monkeypatch.setenv("DESIDELIVER_ENV_FILE", str(env))
    inspected = [{"Id": "aaaaaaaaaaaa01", "Config": {"Env": []}}, {"Id": "bbbbbbbbbbbb02", "Config": {"Env": [
        "REDIS_PASSWORD=a-leaked-redis-password"]}}]  # fmt: skip

    def fake_run(command, **kwargs):
        out = "aaaaaaaaaaaa01\nbbbbbbbbbbbb02\n" if " ps " in command else json.dumps(inspected)
        return subprocess.CompletedProcess(command, 0, out, "")

    monkeypatch.setattr(checks, "run", fake_run)
    with pytest.raises(Exit, match="bbbbbbbbbbbb") as refused:
        checks.check_inspect_shows_no_secret(stack.stack("prod"))
    assert "aaaaaaaaaaaa" not in refused.value.message


@pytest.mark.parametrize("task", ["db.restore", "swarm.restore", "prod.manage"])
def test_help_of_a_task_with_a_positional_argument_is_its_help_not_that_argument(task):
    result = inv(task, "--help")
    assert result.returncode == 0, result.stderr
    assert f"Usage: ./inv [--core-opts] {task}" in result.stdout


def test_dev_up_says_which_flag_its_mode_ignores(tmp_path):
    """--port is the native stack's, --flower the Docker stack's: given to the other, each says so."""
    docker = fake_commands(tmp_path / "bin", docker="exit 0")  # an engine that answers: Docker mode
    with_docker = {**NEWCOMER, "PATH": f"{docker}:{NEWCOMER['PATH']}"}
    out = inv("dev.up", "--docker", "--port", "9000", "--dry-run", env=with_docker, check=True).stdout
    assert "Note: --port is the native stack's; the Docker stack serves on WEB_PORT" in out
    out = inv("dev.up", "--native", "--flower", "--dry-run", check=True).stdout
    assert "Note: --flower is ignored by the native stack" in out
    quiet = inv("dev.up", "--native", "--port", "9000", "--dry-run", check=True).stdout
    assert "Note:" not in quiet
    assert "127.0.0.1:9000" in quiet


def test_dry_runs_show_their_plan_before_the_stack_or_its_data_exist(tmp_path):
    """db.restore latest -n with no backup yet, db.transfer -n with no SQLite file yet, db.migrate -n with
    the stack down: each says what is missing and shows the plan a real run would follow."""
    docker = fake_commands(tmp_path / "bin", docker="exit 0")  # an engine, no stack running
    env = {**NEWCOMER, "PATH": f"{docker}:{NEWCOMER['PATH']}", "BACKUP_DIR": str(tmp_path / "backups")}
    out = inv("db.restore", "latest", "--dry-run", env=env, check=True).stdout
    assert "Note: no dev backup in" in out
    assert "swap the restored database in" in out
    out = inv("db.transfer", "--source", str(tmp_path / "none.sqlite3"), "--dry-run", env=env, check=True).stdout
    assert "no SQLite database at" in out
    assert "load into PostgreSQL in one transaction" in out
    out = inv("db.migrate", "--dry-run", env=env, check=True).stdout
    assert "python manage.py migrate --noinput" in out
    refused = inv("db.restore", "latest", env=env)  # the real run still refuses, naming why
    assert refused.returncode == 2
    assert "no dev backups in" in refused.stdout + refused.stderr


def test_the_end_to_end_suite_runs_the_modules_that_wait_beside_the_rest():
    out = inv("test.e2e", "--select", "alert", "--dry-run", check=True).stdout
    waiting, rest = out.split(" & ", 1)
    assert "-m 'e2e and waits'" in waiting
    assert "-k alert" in waiting
    assert "test.e2e.waiting.log" in waiting  # its output kept apart, printed when it ends
    assert "-m 'e2e and not waits'" in rest
    assert "-k alert" in rest
    assert rest.rstrip().endswith("wait")
    # A selection one half holds no test of ("no tests collected", 5) fails neither half; without one it would.
    assert waiting.count("[ $status -eq 5 ] && status=0") == rest.count("[ $status -eq 5 ] && status=0") == 1
    assert "-eq 5" not in inv("test.e2e", "--dry-run", check=True).stdout
