"""The backup image's scripts, run on this host against a real PostgreSQL server.

docker/backup/*.sh are the project's one backup implementation; here they run
with the host's pg_dump against the server the test run uses (DATABASE_URL),
so their failure paths can be forced: a checksum write that fails, SIGTERM in
the middle of a dump, retention over many days. So do the tasks' commands for
the db container where an app that owns its schema could turn them against the
superuser (the migrations read, the restore).
"""

import json
import os
import shlex
import shutil
import signal
import subprocess
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tasks.lib.db import database as tasks_db
from tasks.lib.db import restores
from tasks.lib.stack import stack
from tests.helpers import ROOT, fake_commands

SCRIPTS = ROOT / "docker" / "backup"
URL = urlsplit(os.environ.get("DATABASE_URL", ""))
needs_postgres = pytest.mark.skipif(
    URL.scheme not in ("postgres", "postgresql") or not os.path.exists("/usr/bin/pg_dump"),
    reason="needs PostgreSQL (DATABASE_URL) and pg_dump on this host, as .ci/run provides",
)


MONITOR = "desideliver_monitor_test"


def environment(directory: Path, **extra: str) -> dict[str, str]:
    return {
        "PATH": f"{SCRIPTS}:{os.environ['PATH']}",
        "BACKUP_ENV": "dev",
        "BACKUP_DIR": str(directory),
        "PGHOST": URL.hostname or "127.0.0.1",
        "PGPORT": str(URL.port or 5432),
        "POSTGRES_USER": URL.username or "postgres",
        "POSTGRES_PASSWORD": URL.password or "unused-with-trust-auth",
        "POSTGRES_DB": "postgres",
        # ensure-app-role.sh's monitoring role (roles are the server's, not a database's).
        "MONITOR_DB_USER": MONITOR,
        "MONITOR_DB_PASSWORD": "monitor-secret-0123",
        **extra,
    }


def script(name: str, directory: Path, *args: str, **extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(SCRIPTS / name), *args], env=environment(directory, **extra), capture_output=True, text=True, timeout=120
    )


@needs_postgres
def test_a_backup_is_verified_private_and_described(tmp_path):
    result = script("backup-once.sh", tmp_path)
    assert result.returncode == 0, result.stderr
    (dump,) = tmp_path.glob("desideliver-dev-*Z.dump")
    assert result.stdout.strip().splitlines()[-1].startswith(f"backup: wrote {dump.name}")
    for path in (dump, Path(f"{dump}.sha256"), Path(f"{dump}.json")):
        assert path.stat().st_mode & 0o777 == 0o600, path
    assert not list(tmp_path.glob("*.partial"))


@needs_postgres
def test_a_failed_checksum_write_leaves_no_backup_and_no_empty_sidecar(tmp_path):
    shim = fake_commands(tmp_path / "shim", sha256sum="exit 1")
    out = tmp_path / "out"
    out.mkdir()
    result = script("backup-once.sh", out, PATH=f"{shim}:{SCRIPTS}:{os.environ['PATH']}")
    assert result.returncode != 0
    assert "backup: FAILED: " in result.stderr
    assert list(out.iterdir()) == []  # no dump, no .partial, no empty .sha256


@needs_postgres
def test_the_room_check_is_sized_by_the_last_dump_not_the_database(tmp_path):
    # 10 GB "last dump": the next one is expected near that size, which this disk cannot hold.
    big = tmp_path / "desideliver-dev-20260101T000000Z.dump"
    with big.open("wb") as f:
        f.truncate(10**13)
    result = script("backup-once.sh", tmp_path)
    assert result.returncode != 0
    assert "the dump needs about 15000000 MB" in result.stderr


def make_dumps(directory: Path, stamps: list[datetime]) -> None:
    for stamp in stamps:
        path = directory / f"desideliver-dev-{stamp:%Y%m%dT%H%M%SZ}.dump"
        path.write_bytes(b"x")
        Path(f"{path}.sha256").write_text("x")


def test_retention_by_age_keeps_older_days_however_many_backups_today(tmp_path):
    today = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    earlier_days = [today - timedelta(days=d) for d in range(1, 7)]
    restarts_today = [today + timedelta(minutes=m) for m in range(10)]
    make_dumps(tmp_path, earlier_days + restarts_today)
    (tmp_path / "desideliver-dev-20200101T000000Z-pre-restore.dump").write_bytes(b"safety")
    result = script("backup-prune.sh", tmp_path, BACKUP_KEEP_LAST="3", BACKUP_KEEP_DAILY="7", BACKUP_KEEP_WEEKLY="0")
    assert result.returncode == 0, result.stderr
    kept = sorted(p.name[16:24] + p.name[25:29] for p in tmp_path.glob("desideliver-dev-*Z.dump"))
    assert [k[:8] for k in kept[:6]] == [f"{d:%Y%m%d}" for d in sorted(earlier_days)]  # every earlier day survives
    assert len([k for k in kept if k.startswith("20261126")]) == 3  # today: the newest three
    assert (tmp_path / "desideliver-dev-20200101T000000Z-pre-restore.dump").exists()
    assert not any(p.name.endswith(".sha256") and not Path(str(p)[:-7]).exists() for p in tmp_path.iterdir())


def test_safety_backups_keep_the_newest_of_each_kind_past_the_daily_window(tmp_path):
    day = datetime.now(UTC) - timedelta(days=9)
    names = {
        kind: [f"desideliver-dev-{day + timedelta(hours=h):%Y%m%dT%H%M%SZ}-{kind}.dump" for h in range(count)]
        for kind, count in (("pre-deploy", 8), ("pre-restore", 2))
    }
    for name in [*names["pre-deploy"], *names["pre-restore"]]:
        (tmp_path / name).write_bytes(b"safety")
        (tmp_path / f"{name}.json").write_text("{}")
    result = script("backup-prune.sh", tmp_path, BACKUP_KEEP_SAFETY="3")
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in tmp_path.glob("*-pre-deploy.dump")) == names["pre-deploy"][-3:]
    assert sorted(p.name for p in tmp_path.glob("*-pre-restore.dump")) == names["pre-restore"]
    assert len(list(tmp_path.glob("*.json"))) == 5  # the sidecars go with their dumps
    assert f"backup: pruned {names['pre-deploy'][0]}" in result.stdout
    assert script("backup-prune.sh", tmp_path, BACKUP_KEEP_SAFETY="0").returncode == 0
    assert len(list(tmp_path.glob("*-pre-deploy.dump"))) == 3  # 0: keep them all


def test_a_burst_of_restores_never_prunes_a_safety_backup_inside_the_daily_window(tmp_path):
    # Six restores in an hour: the first one's safety dump may be the only copy of what it replaced.
    now = datetime.now(UTC)
    names = [f"desideliver-dev-{now - timedelta(minutes=m):%Y%m%dT%H%M%SZ}-pre-restore.dump" for m in range(6)]
    for name in names:
        (tmp_path / name).write_bytes(b"safety")
    result = script("backup-prune.sh", tmp_path, BACKUP_KEEP_SAFETY="2", BACKUP_KEEP_DAILY="7")
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in tmp_path.glob("*-pre-restore.dump")) == sorted(names)


def test_retention_refuses_a_non_numeric_setting_and_keeps_everything(tmp_path):
    make_dumps(tmp_path, [datetime(2026, 1, d, tzinfo=UTC) for d in range(1, 10)])
    result = script("backup-prune.sh", tmp_path, BACKUP_KEEP_DAILY="seven")
    assert result.returncode == 2
    assert "BACKUP_KEEP_DAILY must be a whole number, not 'seven'" in result.stderr
    assert len(list(tmp_path.glob("*.dump"))) == 9


def slow_pg_dump(tmp_path: Path) -> str:
    shim = fake_commands(
        tmp_path / "shim",
        # Writes a little, then hangs like a dump of a large database.
        pg_dump='[[ $1 == --version ]] && exec echo "pg_dump (PostgreSQL) 17.0"\n'
        'for a; do [[ $a == --file=* ]] && f="${a#--file=}"; done\necho PGDMP >"$f"\nexec sleep 60',
        psql="echo 17.0",
    )
    return f"{shim}:{SCRIPTS}:{os.environ['PATH']}"


def test_the_scheduled_service_stops_at_once_on_sigterm_without_leftovers(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    env = environment(out, PATH=slow_pg_dump(tmp_path), BACKUP_INTERVAL_SECONDS="3600")
    loop = subprocess.Popen([str(SCRIPTS / "backup-loop.sh")], env=env, stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while not list(out.glob("*.partial")) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert list(out.glob("*.partial")), "the dump never started"
        started = time.monotonic()
        loop.send_signal(signal.SIGTERM)
        loop.wait(timeout=5)
        assert time.monotonic() - started < 3
    finally:
        loop.kill()
    assert loop.returncode == 0
    assert [p.name for p in out.iterdir() if not p.name.startswith(".lock")] == []


def test_the_scheduled_service_does_not_dump_again_after_a_restart(tmp_path):
    make_dumps(tmp_path, [datetime.now(UTC) - timedelta(minutes=5)])
    env = environment(tmp_path, BACKUP_INTERVAL_SECONDS="3600")
    loop = subprocess.Popen([str(SCRIPTS / "backup-loop.sh")], env=env, stdout=subprocess.PIPE, text=True)
    try:
        line = ""
        while "newest backup is" not in line:
            line = loop.stdout.readline()
        assert "the next one in" in line
    finally:
        loop.terminate()
        loop.wait(timeout=5)
    assert len(list(tmp_path.glob("*.dump"))) == 1


def metrics(path: Path) -> dict[str, float]:
    """A Prometheus text file's samples by series (comments and blank lines skipped)."""
    lines = [line for line in path.read_text().splitlines() if line and not line.startswith("#")]
    return {line.rpartition(" ")[0]: float(line.rpartition(" ")[2]) for line in lines}


def test_the_scheduled_service_publishes_the_newest_backup_and_each_runs_result_for_prometheus(tmp_path):
    out, published = tmp_path / "out", tmp_path / "metrics"
    out.mkdir()
    published.mkdir()
    make_dumps(out, [datetime.now(UTC) - timedelta(minutes=5)])
    (dump,) = out.glob("*.dump")
    # The next run is due at once, and its pg_dump fails.
    failing = fake_commands(tmp_path / "bin", pg_dump="echo 'pg_dump: error: connection refused' >&2; exit 1")
    env = environment(out, PATH=f"{failing}:{SCRIPTS}:{os.environ['PATH']}", BACKUP_INTERVAL_SECONDS="60",
                      METRICS_DIR=str(published))  # fmt: skip
    os.utime(dump, (time.time() - 120, time.time() - 120))
    loop = subprocess.Popen(
        [str(SCRIPTS / "backup-loop.sh")], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 20
        while "desideliver_backup_last_run_ok" not in metrics_text(published) and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        loop.terminate()
        loop.wait(timeout=5)
    samples = metrics(published / "backup.prom")
    assert samples == {
        "desideliver_backup_newest_timestamp_seconds": int(dump.stat().st_mtime),
        "desideliver_backup_newest_size_bytes": 1,
        "desideliver_backup_interval_seconds": 60,
        "desideliver_backup_last_run_ok": 0,
    }
    # Only whole files carry the .prom suffix node-exporter reads (a write in progress has another name).
    assert [p.name for p in published.glob("*.prom")] == ["backup.prom"]


def test_a_failed_scheduled_backup_is_retried_after_a_pause_not_at_once(tmp_path):
    attempts = tmp_path / "attempts"
    failing = fake_commands(tmp_path / "bin", **{"backup-once.sh": f"echo x >>{attempts}; exit 1"})
    env = environment(tmp_path, PATH=f"{failing}:{SCRIPTS}:{os.environ['PATH']}", BACKUP_INTERVAL_SECONDS="3600")
    loop = subprocess.Popen([str(SCRIPTS / "backup-loop.sh")], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    time.sleep(3)
    loop.terminate()
    _, errors = loop.communicate(timeout=5)
    assert "backup: retrying in 60s" in errors
    assert attempts.read_text().splitlines() == ["x"]


def metrics_text(directory: Path) -> str:
    path = directory / "backup.prom"
    return path.read_text() if path.exists() else ""


def test_a_metrics_file_that_cannot_be_written_never_stops_the_loop_writing_it(tmp_path):
    (tmp_path / ".pitr.prom.partial").mkdir()  # in the way of the file publish writes first
    publish = SCRIPTS / "textfile-metrics.sh"
    script = f"set -euo pipefail; source {publish}; loop=pitr; seq 1 200000 | publish pitr; echo went on"
    result = subprocess.run(["bash", "-c", script], env={**os.environ, "METRICS_DIR": str(tmp_path)},
                            capture_output=True, text=True, timeout=30)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "went on"
    assert f"pitr: could not write the metrics file {tmp_path}/pitr.prom" in result.stderr


def test_without_a_writable_metrics_directory_the_service_publishes_nothing_and_goes_on(tmp_path):
    make_dumps(tmp_path, [datetime.now(UTC) - timedelta(minutes=5)])
    env = environment(tmp_path, BACKUP_INTERVAL_SECONDS="3600", METRICS_DIR=str(tmp_path / "absent"))
    loop = subprocess.Popen([str(SCRIPTS / "backup-loop.sh")], env=env, stdout=subprocess.PIPE, text=True)
    try:
        line = ""
        while "newest backup is" not in line:
            line = loop.stdout.readline()
    finally:
        loop.terminate()
        loop.wait(timeout=5)
    assert not (tmp_path / "absent").exists()


@needs_postgres
def test_a_backup_reads_the_password_from_a_secret_file(tmp_path):
    secret = tmp_path / "postgres_password"
    secret.write_text(URL.password or "unused-with-trust-auth")
    out = tmp_path / "out"
    out.mkdir()
    env = environment(out, POSTGRES_PASSWORD_FILE=str(secret))
    del env["POSTGRES_PASSWORD"]
    result = subprocess.run([str(SCRIPTS / "backup-once.sh")], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert list(out.glob("desideliver-dev-*Z.dump"))


SUPERUSER = URL.username or "postgres"
APP_PASSWORD = "app-secret-0123"


def psql(sql: str, database: str = "postgres", user: str = "") -> str:
    """`sql` as the superuser, or as `user` (a role of app_database, with its password)."""
    env = {**os.environ, "PGPASSWORD": APP_PASSWORD if user else (URL.password or "")}
    command = ["psql", "-X", "-tA", "-v", "ON_ERROR_STOP=1", "-h", URL.hostname or "127.0.0.1"]
    command += ["-p", str(URL.port or 5432), "-U", user or SUPERUSER, "-d", database, "-c", sql]
    return subprocess.run(command, env=env, capture_output=True, text=True, check=True, timeout=30).stdout.strip()


@pytest.fixture
def app_database():
    """A database and the name of an app role for it; both dropped after the test, with databases named after it."""
    database, role = f"roles_{uuid.uuid4().hex[:8]}", f"app_{uuid.uuid4().hex[:8]}"
    psql(f"CREATE DATABASE {database}")
    try:
        yield database, role
    finally:
        for name in psql(f"SELECT datname FROM pg_database WHERE starts_with(datname, '{database}')").split():  # noqa: S608
            psql(f'DROP DATABASE "{name}" WITH (FORCE)')
        psql(f"DROP ROLE IF EXISTS {role}")


def rolsuper(role: str) -> str:
    return psql(f"SELECT rolsuper FROM pg_roles WHERE rolname = '{role}'")  # noqa: S608


def owners(database: str, table: str) -> str:
    """Who owns the database, its public schema and `table`."""
    select = "SELECT pg_get_userbyid(d.datdba), pg_get_userbyid(n.nspowner), pg_get_userbyid(c.relowner)"
    where = f"d.datname = current_database() AND n.nspname = 'public' AND c.relname = '{table}'"
    return psql(f"{select} FROM pg_database d, pg_namespace n, pg_class c WHERE {where}", database)


@needs_postgres
def test_the_app_role_is_made_no_superuser_and_given_the_schema_and_every_table(tmp_path, app_database):
    database, role = app_database
    psql("CREATE TABLE made_by_the_superuser (id int)", database)  # what an earlier version left behind
    secret = tmp_path / "app_password"
    secret.write_text(APP_PASSWORD)
    for _ in range(2):  # idempotent: every start runs it
        result = script("ensure-app-role.sh", tmp_path, database, APP_DB_USER=role, APP_DB_PASSWORD_FILE=str(secret))
        assert result.returncode == 0, result.stderr
    flags = "SELECT rolsuper, rolcreatedb, rolcreaterole, rolcanlogin FROM pg_roles WHERE rolname = '{}'"
    assert psql(flags.format(role)) == "f|f|f|t"
    assert owners(database, "made_by_the_superuser") == f"{SUPERUSER}|{role}|{role}"
    # The monitoring role: statistics only.
    assert psql(flags.format(MONITOR)) == "f|f|f|t"
    assert psql(f"SELECT pg_has_role('{MONITOR}', 'pg_monitor', 'MEMBER')") == "t"
    assert (
        psql(f"SELECT has_table_privilege('{MONITOR}', '{database}.public.made_by_the_superuser', 'SELECT')", database)
        == "f"
    )


@pytest.mark.parametrize("monitor", ["app_role_itself", "postgres_superuser"])
def test_the_monitoring_role_must_be_a_role_of_its_own(tmp_path, monitor):
    names = {"app_role_itself": "desideliver_app_test", "postgres_superuser": SUPERUSER}
    result = script("ensure-app-role.sh", tmp_path, "postgres", APP_DB_USER="desideliver_app_test",
                    APP_DB_PASSWORD=APP_PASSWORD, MONITOR_DB_USER=names[monitor])  # fmt: skip
    assert result.returncode == 78
    assert "MONITOR_DB_USER must be a role of its own, not APP_DB_USER or POSTGRES_USER" in result.stderr


# What a compromised app can do as the owner of its schema, and what each superuser session must not run.
# Each function notes who ran it, then tries to make the app's role a superuser: only a superuser may.
ESCALATE = """
    INSERT INTO public.ran_as VALUES (current_user);
    BEGIN
        RESET ROLE;  -- undoes a superuser's SET ROLE
        ALTER ROLE {role} SUPERUSER;
    EXCEPTION WHEN insufficient_privilege THEN NULL;
    END;
"""


def an_app_that_owns_its_schema(database: str, role: str, planted: str, and_the_database: bool = False) -> None:
    """`role` owns the public schema of `database` (and the database, as earlier versions left it) and has run
    `planted` there, where {escalate} stands for ESCALATE's statements."""
    psql(f"CREATE ROLE {role} LOGIN PASSWORD '{APP_PASSWORD}'")
    psql(f"ALTER SCHEMA public OWNER TO {role}", database)
    if and_the_database:
        psql(f"ALTER DATABASE {database} OWNER TO {role}")
    planted = planted.replace("{escalate}", ESCALATE.format(role=role)).replace("{database}", database)
    psql(f"CREATE TABLE ran_as (who name); {planted}", database, user=role)


def ran_as(database: str) -> set[str]:
    return set(psql("SELECT who FROM ran_as", database).split())


def locally(monkeypatch, tmp_path: Path, database: str, role: str) -> None:
    """The tasks' commands for the db container run here instead, against this server, as `role` is the app."""
    passwords = tmp_path / "pgpass"
    host, port = URL.hostname or "127.0.0.1", URL.port or 5432
    passwords.write_text(f"{host}:{port}:*:{SUPERUSER}:{URL.password or 'x'}\n{host}:{port}:*:{role}:{APP_PASSWORD}\n")
    passwords.chmod(0o600)
    environment = {"PGHOST": host, "PGPORT": str(port), "PGPASSFILE": str(passwords)}
    for name, value in {**environment, "POSTGRES_USER": SUPERUSER, "POSTGRES_DB": database}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("PGPASSWORD", raising=False)
    for module in (tasks_db, restores):
        monkeypatch.setattr(module, "in_db", lambda s, command: f"sh -c {shlex.quote(command)}")
    monkeypatch.setattr(tasks_db, "app_user", lambda s: role)


@needs_postgres
def test_the_migrations_are_read_as_the_app_so_a_view_over_its_function_escalates_nothing(
    tmp_path, app_database, monkeypatch
):
    database, role = app_database
    an_app_that_owns_its_schema(
        database,
        role,
        "CREATE TABLE applied (id serial, app text, name text); INSERT INTO applied (app, name) VALUES "
        "('catalog', '0001_initial'), ('orders', '0001_initial'), ('orders', '0002_unconfirmed_index'); "
        "CREATE FUNCTION escalate() RETURNS SETOF applied LANGUAGE plpgsql AS $$ BEGIN {escalate} "
        "RETURN QUERY SELECT * FROM public.applied; END $$; "
        "CREATE VIEW django_migrations AS SELECT * FROM escalate()",
    )
    newest = {"catalog": "0001_initial", "orders": "0002_unconfirmed_index"}

    result = script("backup-once.sh", tmp_path, POSTGRES_DB=database, APP_DB_USER=role, APP_DB_PASSWORD=APP_PASSWORD)
    assert result.returncode == 0, result.stderr
    (metadata,) = tmp_path.glob("*.json")
    assert json.loads(metadata.read_text())["migrations"] == newest
    locally(monkeypatch, tmp_path, database, role)
    assert tasks_db.migration_state(stack("prod")) == newest  # what deploys and restores read

    assert rolsuper(role) == "f"
    assert ran_as(database) == {role}  # both reads ran it, as the app: never as the superuser


@needs_postgres
def test_a_restore_runs_the_dumps_functions_as_the_app(tmp_path, app_database, monkeypatch):
    database, role = app_database
    an_app_that_owns_its_schema(
        database,
        role,
        "CREATE FUNCTION ok(x int) RETURNS bool LANGUAGE plpgsql AS $$ BEGIN {escalate} RETURN true; END $$; "
        "CREATE TABLE checked (x int CHECK (ok(x))); INSERT INTO checked VALUES (1), (2)",
    )
    dump = tmp_path / "app.dump"
    result = script("backup-once.sh", tmp_path, POSTGRES_DB=database, APP_DB_USER=role, APP_DB_PASSWORD=APP_PASSWORD)
    assert result.returncode == 0, result.stderr
    next(tmp_path.glob("*Z.dump")).rename(dump)
    locally(monkeypatch, tmp_path, database, role)
    swap = restores.Swap.at(database, datetime.now(UTC))

    step = restores.scratch_step(stack("prod"), dump, swap, role)
    restored = subprocess.run(step.command, shell=True, capture_output=True, text=True, timeout=120)  # noqa: S602
    assert restored.returncode == 0, restored.stderr

    assert rolsuper(role) == "f"
    assert ran_as(swap.scratch) == {role}  # the CHECK ran on every row restored, as the app
    assert owners(swap.scratch, "checked") == f"{SUPERUSER}|{role}|{role}"  # as db-roles keeps the live one


@needs_postgres
def test_db_roles_takes_the_database_back_and_runs_nothing_the_app_planted(tmp_path, app_database):
    database, role = app_database
    an_app_that_owns_its_schema(
        database,
        role,
        "ALTER DATABASE {database} SET search_path = public, pg_catalog; "
        "ALTER ROLE CURRENT_USER IN DATABASE {database} SET search_path = public, pg_catalog; "
        "CREATE FUNCTION pg_get_userbyid(oid) RETURNS name LANGUAGE plpgsql AS $$ BEGIN {escalate} "
        "RETURN 'nobody'; END $$",
        and_the_database=True,
    )
    # psql's arguments as `ps` shows them to everyone on the host.
    arguments = tmp_path / "psql-arguments"
    shim = fake_commands(tmp_path / "shim", psql=f'echo "$@" >>{arguments}\nexec {shutil.which("psql")} "$@"')

    result = script(
        "ensure-app-role.sh",
        tmp_path,
        database,
        PATH=f"{shim}:{SCRIPTS}:{os.environ['PATH']}",
        APP_DB_USER=role,
        APP_DB_PASSWORD=APP_PASSWORD,
    )
    assert result.returncode == 0, result.stderr

    assert rolsuper(role) == "f"
    assert ran_as(database) == set()
    assert owners(database, "ran_as") == f"{SUPERUSER}|{role}|{role}"
    settings = "SELECT count(*) FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase"
    assert psql(f"{settings} WHERE d.datname = '{database}'") == "0"  # the database's and the role's
    assert arguments.read_text()
    assert APP_PASSWORD not in arguments.read_text()
