"""Backups and restores never lose data: round trip, refusals, and a restore that fails late.

The fingerprint of the database is every public table's row count and an md5
of its full content, so "unchanged" means unchanged to the byte.
"""

import http.client
import json
import os
import signal
import subprocess
import sys
import time
import uuid

import pytest

from tests.helpers import INV

from .conftest import ROOT, dev_settings, figure, make_stack, newest_migration, register_and_login, running

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    retention = {"BACKUP_KEEP_LAST": "2", "BACKUP_KEEP_DAILY": "0", "BACKUP_KEEP_WEEKLY": "0"}
    dev = make_stack("dev", tmp_path_factory.mktemp("backup"), dev_settings(**retention))
    with running(dev, "dev.up", "--docker"):
        token = register_and_login(dev, f"seed-{uuid.uuid4().hex[:6]}@example.com")
        product = dev.request("GET", "/api/v1/products/?in_stock=true").json()["results"][0]["id"]
        dev.request("POST", "/api/v1/cart/add/", {"product_id": product, "quantity": 1}, token)
        assert dev.request("POST", "/api/v1/orders/create/", {}, token).status == 201
        yield dev


def psql(stack, sql: str, database: str = "desideliver") -> str:
    result = stack.compose(
        "exec", "-T", "db", "psql", "-X", "-tA", "-v", "ON_ERROR_STOP=1", "-U", "desideliver", "-d", database, "-c", sql
    )
    return result.stdout.strip()


def fingerprint(stack) -> dict[str, str]:
    tables = psql(stack, "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1").split()
    return {
        t: psql(
            stack,
            f"SELECT count(*) || ':' || coalesce(md5(string_agg(x::text, ',' ORDER BY x::text)), '') FROM \"{t}\" x",  # noqa: S608 - names from pg_tables
        )
        for t in tables
    }


def databases(stack) -> list[str]:
    return psql(stack, "SELECT datname FROM pg_database ORDER BY 1", database="postgres").split()


def restore(stack, name: str, check: bool = False):
    return stack.inv("db.restore", name, "--yes", check=check)


def test_backup_writes_a_verified_dump_with_checksum_and_metadata(stack):
    out = stack.inv("db.backup").stdout
    dump = sorted(stack.backups.glob("desideliver-dev-*Z.dump"))[-1]
    assert f"✓ backup {dump}" in out
    assert not list(stack.backups.glob("*.partial"))
    # Personal data and password hashes: readable by the operator only.
    assert stack.backups.stat().st_mode & 0o777 == 0o700
    assert {p.stat().st_mode & 0o777 for p in stack.backups.glob("desideliver-*")} == {0o600}
    metadata = json.loads(dump.with_name(dump.name + ".json").read_text())
    assert (metadata["environment"], metadata["kind"]) == ("dev", "regular")
    assert metadata["database"] == "desideliver"
    assert metadata["server_version"].startswith("17.")
    assert metadata["migrations"]["orders"] == newest_migration("orders")  # db.restore compares it with the live one
    assert metadata["size_bytes"] == dump.stat().st_size
    assert dump.with_name(dump.name + ".sha256").read_text().split()[0] == metadata["sha256"]
    assert "ok" in stack.inv("db.backups").stdout.splitlines()[-1]


def test_round_trip_restores_every_table_exactly(stack):
    before = fingerprint(stack)
    assert int(before["orders_order"].split(":")[0]) >= 1
    stack.inv("db.backup")
    psql(
        stack,
        "UPDATE catalog_product SET price = price + 1; DELETE FROM support_ticketmessage; "
        "DELETE FROM orders_orderitem; DELETE FROM orders_order;",
    )
    assert fingerprint(stack) != before
    older = "desideliver_before_restore_20000101000000"  # what an earlier restore kept
    psql(stack, f"CREATE DATABASE {older}", database="postgres")

    started = time.monotonic()
    out = restore(stack, "latest", check=True).stdout
    took = time.monotonic() - started
    assert fingerprint(stack) == before
    unavailable = float(out.split("the app was unavailable for ")[1].split("s")[0])
    figure(f"dev restore: {took:.1f}s in all, the app unavailable for {unavailable:.1f}s")
    # Paused only while the databases were renamed, not while the dump was restored beside them: a share of
    # the run, not a time (this machine's speed varies; the budget is ./inv bench.load's).
    assert unavailable < took / 2
    previous = [d for d in databases(stack) if d.startswith("desideliver_before_restore_")]
    assert len(previous) == 1  # the replaced database is kept for the operator, the older one is not
    assert f"dropped {older}, kept by an earlier restore (its pre-restore backup holds it)" in out
    assert list(stack.backups.glob("*-pre-restore.dump"))  # and it was backed up first
    assert stack.request("GET", "/api/v1/health/ready/").status == 200


@pytest.mark.parametrize("damage", ["truncated", "random", "wrong checksum", "empty", "newer postgres"])
def test_damaged_backups_are_refused_and_change_nothing(stack, damage):
    stack.inv("db.backup")
    good = sorted(stack.backups.glob("desideliver-dev-*Z.dump"))[-1]
    bad = stack.backups / f"damaged-{uuid.uuid4().hex[:6]}.dump"
    data = good.read_bytes()
    if damage == "truncated":
        bad.write_bytes(data[: len(data) // 2])
    elif damage == "random":
        bad.write_bytes(os.urandom(8192))
    elif damage == "wrong checksum":
        bad.write_bytes(data)
        bad.with_name(bad.name + ".sha256").write_text("0" * 64 + f"  {bad.name}\n")
    elif damage == "empty":
        bad.write_bytes(b"")
    else:  # the same dump, claiming to come from PostgreSQL 99
        server = json.loads(good.with_name(good.name + ".json").read_text())["server_version"].encode()
        assert server in data[:400]
        bad.write_bytes(data[:400].replace(server, b"99" + server[2:], 1) + data[400:])
    before, dbs = fingerprint(stack), databases(stack)

    result = restore(stack, bad.name)
    assert result.returncode != 0
    message = result.stdout + result.stderr
    expected = {
        # Cut in its header or in its data: refused before anything is asked, or by the full read.
        "truncated": "complete PostgreSQL",
        "random": "is not a complete PostgreSQL custom-format dump",  # refused before anything is asked
        "wrong checksum": "does not match its checksum",
        "empty": "is empty",
        "newer postgres": "made by PostgreSQL 99, newer than this server (17)",
    }[damage]
    assert expected in message
    assert fingerprint(stack) == before
    assert databases(stack) == dbs  # no scratch database left behind
    assert stack.request("GET", "/api/v1/health/ready/").status == 200


def test_a_restore_that_fails_late_leaves_the_live_database_as_it_was(stack):
    # A valid archive whose data violates a CHECK constraint: pg_restore gets
    # through the schema and fails in the middle of loading the data.
    psql(stack, "DROP DATABASE IF EXISTS late_failure", database="postgres")
    psql(stack, "CREATE DATABASE late_failure", database="postgres")
    psql(
        stack,
        "CREATE FUNCTION ok(x int) RETURNS bool LANGUAGE sql IMMUTABLE AS 'SELECT true'; "
        "CREATE TABLE first_table (x int); INSERT INTO first_table SELECT generate_series(1, 100); "
        "CREATE TABLE t (x int CHECK (ok(x))); INSERT INTO t SELECT generate_series(1, 1000); "
        "CREATE OR REPLACE FUNCTION ok(x int) RETURNS bool LANGUAGE sql IMMUTABLE AS 'SELECT x < 500';",
        database="late_failure",
    )
    dump = stack.backups / "late-failure.dump"
    dump.write_bytes(dump_bytes(stack, "late_failure"))
    psql(stack, "DROP DATABASE late_failure", database="postgres")
    before, dbs = fingerprint(stack), databases(stack)

    result = restore(stack, dump.name)
    assert result.returncode != 0
    message = result.stdout + result.stderr
    assert "restore into it' failed" in message
    assert 'violates check constraint "t_x_check"' in message
    assert fingerprint(stack) == before
    # No scratch database left. What an earlier restore kept is gone, as with any restore: its data is in
    # that restore's pre-restore backup.
    kept = [d for d in dbs if d.startswith("desideliver_before_restore_")]
    assert databases(stack) == [d for d in dbs if d not in kept]
    assert len(list(stack.backups.glob("*-pre-restore.dump"))) >= len(kept)
    assert stack.request("GET", "/api/v1/health/ready/").status == 200


def dump_forgetting_migrations(stack, where: str) -> bytes:
    """A dump of the live database whose django_migrations lacks the rows `where` picks; the live one keeps them."""
    rows = psql(stack, f"SELECT id || ',' || app || ',' || name FROM django_migrations WHERE {where}").split()  # noqa: S608
    psql(stack, f"DELETE FROM django_migrations WHERE {where}")  # noqa: S608
    try:
        return dump_bytes(stack, "desideliver")
    finally:
        for row in rows:
            row_id, app, name = row.split(",", 2)
            values = f"({row_id}, '{app}', '{name}', now())"
            psql(stack, f"INSERT INTO django_migrations (id, app, name, applied) VALUES {values}")  # noqa: S608


def dump_bytes(stack, database: str) -> bytes:
    """A custom-format dump of `database`, as bytes (compose would decode stdout as text)."""
    return subprocess.run(
        ["docker", "exec", stack.container("db"), "pg_dump", "-Fc", "-U", "desideliver", "-d", database],
        capture_output=True,
        check=True,
    ).stdout


def test_retention_keeps_the_newest_backups(stack):
    for _ in range(3):
        stack.inv("db.backup")
    assert len(sorted(stack.backups.glob("desideliver-dev-*Z.dump"))) == 2  # BACKUP_KEEP_LAST=2


def test_a_restore_whose_migrations_fail_leaves_the_live_database_as_it_was(stack):
    # A dump whose migration history lacks the support app although its tables
    # exist: migrating the restored copy fails with "relation ... already exists".
    data = dump_forgetting_migrations(stack, "app = 'support'")
    dump = stack.backups / "unmigratable.dump"
    dump.write_bytes(data)
    before, dbs = fingerprint(stack), databases(stack)

    result = restore(stack, dump.name)
    message = result.stdout + result.stderr
    assert result.returncode != 0
    assert "apply migrations to the restored database' failed" in message
    assert "already exists" in message
    assert "the live database is unchanged" in message
    assert fingerprint(stack) == before
    assert databases(stack) == dbs  # the scratch copy is gone
    assert stack.request("GET", "/api/v1/health/ready/").status == 200


def test_a_restore_that_fails_after_the_swap_puts_the_previous_database_back(stack):
    # A dump whose metadata claims the live schema while its history lacks the newest orders migration:
    # the restore skips migrating it aside, swaps it in, and readiness then finds an unapplied migration.
    # The swap-back's renames run against PostgreSQL here (tests/task_layer/test_db_tasks.py checks their order only).
    stack.inv("db.backup")
    claimed = max(stack.backups.glob("desideliver-dev-*Z.dump"), key=lambda p: p.stat().st_mtime)
    data = dump_forgetting_migrations(stack, f"app = 'orders' AND name = '{newest_migration('orders')}'")
    dump = stack.backups / "unready.dump"
    dump.write_bytes(data)
    (stack.backups / "unready.dump.json").write_text(claimed.with_name(f"{claimed.name}.json").read_text())
    before, dbs = fingerprint(stack), databases(stack)

    result = restore(stack, dump.name)
    message = result.stdout + result.stderr
    assert result.returncode != 0
    assert "the app is not ready on the restored database" in message
    assert "the app did not become ready within 120s" in message
    assert "failed after the swap and was undone: the previous database is live again" in message
    assert fingerprint(stack) == before  # the data it had before, to the byte
    added = set(databases(stack)) - set(dbs)
    assert len(added) == 1  # only the restored copy, kept aside for the operator
    assert next(iter(added)).startswith("desideliver_failed_restore_")
    assert stack.request("GET", "/api/v1/health/ready/").status == 200
    psql(stack, f'DROP DATABASE "{added.pop()}"', database="postgres")


def native(source, *args: str, code: str = "") -> subprocess.CompletedProcess:
    """manage.py on the host against the SQLite file `source`, like the native stack."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.local",
        "DATABASE_URL": f"sqlite:///{source}",
        "REDIS_URL": "",
        "DJANGO_READ_DOT_ENV": "false",
    }
    command = [sys.executable, str(ROOT / "src" / "manage.py"), *args, *(["--command", code] if code else [])]
    return subprocess.run(command, env=env, capture_output=True, text=True, check=True, cwd=ROOT)


def test_transfer_moves_native_data_into_postgres_with_identical_counts(stack, tmp_path):
    source = tmp_path / "native.sqlite3"
    native(source, "migrate", "--noinput")
    native(source, "load_demo_data")
    native(
        source,
        "shell",
        code=(
            "from accounts.models import User; from cart.models import Cart, CartItem\n"
            "from catalog.models import Product; from orders.services import place_order\n"
            "from support.models import Ticket, TicketMessage\n"
            "for n in range(5):\n"
            "    u = User.objects.create_user(f'native{n}@example.com', 'Native-pass-123')\n"
            "    cart = Cart.objects.create(user=u)\n"
            "    CartItem.objects.create(cart=cart, product=Product.objects.order_by('pk')[n], quantity=1)\n"
            "    order = place_order(u, 'MG Road')\n"
            "    t = Ticket.objects.create(user=u, order=order, subject='hi')\n"
            "    TicketMessage.objects.create(ticket=t, author=u, body='hello')\n"
        ),
    )
    expected = json.loads(native(source, "model_counts").stdout.strip().splitlines()[-1])
    before = fingerprint(stack)

    refused = stack.inv("db.transfer", "--source", str(source), check=False)
    assert refused.returncode != 0
    assert "already holds data" in refused.stdout + refused.stderr
    assert fingerprint(stack) == before

    out = stack.inv("db.transfer", "--source", str(source), "--yes").stdout
    assert "identical counts on both sides" in out
    counts = stack.compose("exec", "-T", "web", "python", "manage.py", "model_counts").stdout.strip().splitlines()[-1]
    got = json.loads(counts)
    for label in ("accounts.User", "orders.Order", "orders.OrderItem", "catalog.Product", "support.TicketMessage"):
        assert got[label] == expected[label], label
    assert not list((ROOT / "var").glob("transfer-*.json"))  # the snapshot with password hashes is gone
    # Sequences were reset: new rows get fresh ids instead of colliding with loaded ones.
    token = register_and_login(stack, f"after-transfer-{uuid.uuid4().hex[:6]}@example.com")
    assert stack.request("GET", "/api/v1/auth/me/", token=token).json()["id"] > max(1, expected["accounts.User"])


def paused(container: str) -> bool:
    state = subprocess.run(
        ["docker", "inspect", "--format", "{{.State.Paused}}", container], capture_output=True, text=True, check=True
    )
    return state.stdout.strip() == "true"


def ready(stack) -> bool:
    try:
        return stack.request("GET", "/api/v1/health/ready/").status == 200
    except (OSError, http.client.HTTPException):  # URLError and a dropped connection included
        return False


def test_a_restore_killed_while_the_app_is_paused_is_resumed_by_the_next_command(stack, tmp_path):
    """kill -9 of ./inv between the pause and the unpause (an SSH drop): the next command unpauses the app.

    The pause lasts about a second (the swap); web is polled every few tens of milliseconds and the whole
    process group (./inv and its docker clients) is killed as soon as it is paused.
    """
    stack.inv("db.backup")  # the same data: whether the swap committed or not, the app is ready on either
    note = ROOT / "var" / "ops" / f"{stack.project}.json"
    web, log = stack.container("web"), tmp_path / "restore.log"
    with log.open("w") as sink:
        restore = subprocess.Popen(
            [*INV, "db.restore", "latest", "--yes"],
            env=stack.environ,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, killed whole
        )
    try:
        deadline = time.monotonic() + 300
        while not paused(web):
            assert restore.poll() is None, f"the restore ended before pausing the app:\n{log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"the app was not paused within 300s:\n{log.read_text()[-3000:]}"
        os.killpg(restore.pid, signal.SIGKILL)
        restore.wait(timeout=30)
    finally:
        if restore.poll() is None:
            os.killpg(restore.pid, signal.SIGKILL)
            restore.wait(timeout=30)
    assert paused(web), f"web was unpaused before the kill landed:\n{log.read_text()[-3000:]}"
    assert note.exists()  # what to undo, left by the killed run

    out = stack.inv("dev.ps", timeout=120).stdout
    assert f"! var/ops/{stack.project}.json: db.restore (pid " in out
    assert "died with web, worker, beat paused; unpaused " in out
    assert not note.exists()
    assert not stack.compose("ps", "--quiet", "--status", "paused").stdout.strip()
    stack.wait_for(lambda: ready(stack), "web to answer ready", timeout=60)
    # The killed run may not have swapped: its scratch database is left (a later restore's concern, not the app's).
    for name in databases(stack):
        if name.startswith("desideliver_restore_"):
            psql(stack, f'DROP DATABASE "{name}" WITH (FORCE)', database="postgres")
