"""Point-in-time recovery on the real engine: archiving, a failing archive, a restore to a time, a lost volume,
restore drills, the off-host repository.

One prod stack for the module; the tests run in order and share a ledger of the
orders they placed (id and commit time), so the one that loses the database's
volume under a checkout load checks every order of the module. The drill test
damages the local repository, and restores from the backup before the damage;
the off-host test comes last: it deletes the local repository with the host's
other disk.
"""

from __future__ import annotations

import json
import re
import subprocess
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from .conftest import HTTPS, Load, extra_migration, figure, make_stack, prod_settings, register_and_login, running

pytestmark = pytest.mark.e2e

RPO_SECONDS = 60  # PITR_ARCHIVE_TIMEOUT's default: what a lost volume may lose
STOCK = 1_000_000


@pytest.fixture(scope="module")
def prod(tmp_path_factory):
    limits = {"MAX_OPEN_ORDERS": "1000000", "AUTH_THROTTLE_RATE": "1000/minute", "LOGIN_RATE": "600r/m"}
    settings = prod_settings(PITR_CHECK_SECONDS="5", **limits)
    stack = make_stack("prod", tmp_path_factory.mktemp("pitr"), settings)
    with running(stack, "prod.deploy", "--tag", "e2e-pitr"):
        stack.compose("exec", "-T", "web", "python", "manage.py", "load_demo_data")  # products to shop for
        stack.ledger = {}  # order id -> commit time (the 201's arrival), for every order placed here
        stack.buyer = register_and_login(stack, f"pitr-{uuid.uuid4().hex[:6]}@example.com", HTTPS)
        products = stack.request("GET", "/api/v1/products/?in_stock=true", headers=HTTPS).json()["results"]
        stack.product = products[0]["id"]
        psql(stack, f"UPDATE catalog_product SET stock = {STOCK} WHERE id = {int(stack.product)}")  # noqa: S608
        yield stack


def psql(stack, sql: str) -> str:
    result = stack.compose(
        "exec", "-T", "db", "psql", "-X", "-tA", "-v", "ON_ERROR_STOP=1", "-U", "desideliver", "-d", "desideliver",
        "-c", sql,
    )  # fmt: skip
    return result.stdout.strip()


def order(stack, token: str = "") -> int:
    line = {"product_id": stack.product, "quantity": 1}
    placed = stack.request("POST", "/api/v1/orders/create/", {"items": [line]}, token or stack.buyer, HTTPS)
    assert placed.status == 201, placed.body
    stack.ledger[placed.json()["id"]] = time.time()
    return placed.json()["id"]


def order_ids(stack) -> list[int]:
    return [int(i) for i in psql(stack, "SELECT id FROM orders_order ORDER BY id").split()]


def units(stack) -> tuple[int, int]:
    """Units of the test's product in orders, and in stock."""
    product = int(stack.product)
    ordered = psql(stack, f"SELECT coalesce(sum(quantity), 0) FROM orders_orderitem WHERE product_id = {product}")  # noqa: S608
    return int(ordered), int(psql(stack, f"SELECT stock FROM catalog_product WHERE id = {product}"))  # noqa: S608


def health(stack, service: str) -> str:
    return stack.inspect(service)["State"].get("Health", {}).get("Status", "")


def test_the_database_archives_and_db_backups_shows_the_window(prod):
    prod.wait_for(lambda: health(prod, "pitr") == "healthy", "the pitr service to be healthy", timeout=120)
    listing = prod.inv("db.backups", "--env", "prod").stdout
    assert "Point-in-time recovery (pgBackRest, ok): recoverable window 20" in listing
    assert " full " in listing
    assert "archiving works: last segment archived" in listing
    # Encrypted at rest (OpenSSL's salted format), and the key is in no container's environment.
    newest = prod.compose(
        "exec", "-T", "pitr", "sh", "-c", "find /var/lib/pgbackrest/archive -name '0000*.lz4' | sort | tail -n 1"
    ).stdout.strip()  # fmt: skip
    assert newest, "no WAL segment in the repository"
    assert prod.compose("exec", "-T", "pitr", "head", "-c", "8", newest).stdout == "Salted__"
    key = (Path(prod.values["SECRETS_DIR"]) / "backup_cipher_pass").read_text().strip()
    for service in ("db", "pitr"):
        assert key not in json.dumps(prod.inspect(service)["Config"]["Env"])


def test_a_failing_archive_keeps_the_shop_serving_shows_within_a_minute_and_catches_up(prod):
    archive = "/var/lib/pgbackrest/archive"
    # The repository unwritable for the server's user (root in the db container may still change modes).
    prod.compose("exec", "-T", "-u", "root", "db", "chmod", "-R", "a-w", archive)
    try:
        during = order(prod)
        psql(prod, "SELECT pg_switch_wal()")
        assert prod.request("GET", "/api/v1/health/ready/", headers=HTTPS).status == 200
        started = time.monotonic()
        prod.wait_for(lambda: health(prod, "pitr") == "unhealthy", "pitr to turn unhealthy", timeout=60)
        figure(f"PITR: a failing archive made pitr unhealthy after {time.monotonic() - started:.0f}s")
        assert "archiving FAILS" in prod.inv("db.backups", "--env", "prod").stdout
        order(prod)  # still taking orders
    finally:
        prod.compose("exec", "-T", "-u", "root", "db", "chmod", "-R", "u+w", archive)
    psql(prod, "SELECT pg_switch_wal()")
    prod.wait_for(lambda: health(prod, "pitr") == "healthy", "pitr healthy again once WAL flows", timeout=120)
    assert "archiving works" in prod.inv("db.backups", "--env", "prod").stdout
    assert during in order_ids(prod)


class Reads(Load):
    """The catalogue read through the proxy in a loop: writes after the target are undone by design."""

    CYCLE = ("read",)


def test_a_restore_to_a_time_brings_back_exactly_the_orders_before_it(prod):
    reads = Reads(prod)  # its user is registered before the target, so the restore keeps it
    before = order(prod)
    time.sleep(1.5)
    target = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f+00")
    time.sleep(1.5)
    after = order(prod)
    started = time.monotonic()
    # Reads through the proxy all along: the app is paused for the switch, not stopped, so requests wait
    # for it instead of failing.
    with reads:
        result = prod.inv("db.restore", "--env", "prod", "--to", target, "--yes")
    figure(
        f"PITR: restore to a time: {time.monotonic() - started:.1f}s; {result.stdout.splitlines()[-2].strip()}; "
        f"under a read load: {reads.reads} requests answered, {reads.failed} failed"
    )
    assert reads.failed == 0, reads.errors[:5]
    assert reads.reads > 20
    ids = order_ids(prod)
    assert before in ids
    assert after not in ids
    del prod.ledger[after]  # gone by design: it was placed after the target
    assert prod.request("GET", "/api/v1/health/ready/", headers=HTTPS).status == 200
    assert "(pgBackRest, ok)" in prod.inv("db.backups", "--env", "prod").stdout


def test_a_target_past_the_archive_is_refused_and_changes_nothing(prod):
    ids = order_ids(prod)
    refused = prod.inv("db.restore", "--env", "prod", "--to", "2020-01-01 00:00:00+00", "--yes", check=False)
    assert refused.returncode == 2
    assert "is before the recoverable window (20" in refused.stderr
    assert order_ids(prod) == ids


class Checkout:
    """Buyers, one thread each, placing one-unit orders as fast as the stack takes them (at most 5 minutes)."""

    def __init__(self, stack, tokens: list[str]) -> None:
        self.stack, self.stop = stack, threading.Event()
        self.threads = [threading.Thread(target=self.buy, args=(token,), daemon=True) for token in tokens]

    def buy(self, token: str) -> None:
        deadline = time.monotonic() + 300
        while not self.stop.is_set() and time.monotonic() < deadline:
            try:
                order(self.stack, token)
            except (AssertionError, OSError):
                time.sleep(0.2)  # the database is gone: the shop answers errors until it is restored

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=60)


def test_losing_the_database_volume_under_checkout_load_loses_at_most_the_rpo(prod):
    tokens = [register_and_login(prod, f"buyer-{n}-{uuid.uuid4().hex[:6]}@example.com", HTTPS) for n in range(3)]
    ordered_before, stock_before = units(prod)
    with Checkout(prod, tokens):
        time.sleep(RPO_SECONDS + 15)  # more than one archive timeout: some of the load is archived, some not
        lost_at = time.time()
        # Killed, not stopped: a clean shutdown archives the last segment, a lost disk does not. pitr mounts
        # the volume too: it goes with it.
        prod.compose("kill", "-s", "SIGKILL", "db")
        prod.compose("rm", "--stop", "--force", "db", "pitr")
        removed = subprocess.run(["docker", "volume", "rm", f"{prod.project}_postgres_data"], capture_output=True)
        assert removed.returncode == 0, removed.stderr
    started = time.monotonic()
    result = prod.inv("db.restore", "--env", "prod", "--to", "latest", "--yes", timeout=900)
    took = time.monotonic() - started
    restored = order_ids(prod)
    assert len(restored) == len(set(restored))
    assert set(restored) <= set(prod.ledger), "an order nobody placed"
    lost = {i: t for i, t in prod.ledger.items() if i not in restored}
    too_old = [i for i, t in lost.items() if t < lost_at - RPO_SECONDS - 7]  # pitr looks every 5 s
    assert not too_old, f"orders committed more than {RPO_SECONDS}s before the loss are gone: {too_old}"
    rpo = lost_at - min(lost.values()) if lost else 0.0
    figure(
        f"PITR: volume lost under checkout load: {len(prod.ledger)} orders placed, {len(lost)} lost, "
        f"measured RPO {rpo:.1f}s (bound {RPO_SECONDS}s); restore --to latest took {took:.1f}s; "
        f"{result.stdout.splitlines()[-2].strip()}"
    )
    # Stock balances: every restored unit ordered is a unit out of stock, no more, no less.
    ordered, stock = units(prod)
    assert stock + ordered == stock_before + ordered_before
    prod.wait_for(lambda: health(prod, "pitr") == "healthy", "pitr healthy on the restored cluster", timeout=120)
    assert prod.request("GET", "/api/v1/health/ready/", headers=HTTPS).status == 200
    assert order(prod) not in restored


def test_a_deploy_that_drops_a_column_is_undone_by_a_rollback_and_a_restore_to_before_it(prod):
    psql(prod, "UPDATE orders_order SET delivery_address = 'Flat ' || id")  # data the column carries
    addresses = "SELECT md5(string_agg(id || ':' || delivery_address, ',' ORDER BY id)) FROM orders_order"
    before = psql(prod, addresses)
    drop = "migrations.RemoveField('order', 'delivery_address')"  # the model still has it: the list still works
    with extra_migration("orders", "0003_e2e_drop_address", "0002_unconfirmed_index", drop):
        prod.inv("prod.deploy", "--tag", "e2e-pitr-drop")
    column = (
        "SELECT count(*) FROM information_schema.columns "
        "WHERE table_name = 'orders_order' AND column_name = 'delivery_address'"
    )
    assert psql(prod, column) == "0"
    refused = prod.inv("db.restore", "--env", "prod", "--to", "before-deploy:e2e-pitr-drop", "--yes", check=False)
    assert refused.returncode == 2
    assert ":e2e-pitr-drop is still serving" in refused.stderr
    assert "Roll back first (./inv prod.rollback), then run this again." in refused.stderr
    prod.inv("prod.rollback")
    started = time.monotonic()
    restored = prod.inv("db.restore", "--env", "prod", "--to", "before-deploy:e2e-pitr-drop", "--yes")
    figure(
        f"PITR: restore to before a deploy that dropped a column: {time.monotonic() - started:.1f}s; "
        f"{restored.stdout.splitlines()[-2].strip()}"
    )
    assert psql(prod, column) == "1"
    assert psql(prod, addresses) == before
    assert "0003_e2e_drop_address" not in psql(prod, "SELECT string_agg(name, ',') FROM django_migrations")
    assert prod.inspect("web")["Config"]["Image"] == "desideliver-django:e2e-pitr"
    assert prod.request("GET", "/api/v1/health/ready/", headers=HTTPS).status == 200
    order(prod)  # the previous code writes orders again


def backup_labels(stack) -> list[str]:
    info = json.loads(stack.compose("exec", "-T", "pitr", "pgbackrest-run.sh", "info", "--output=json").stdout)
    return [b["label"] for b in info[0]["backup"]]


def test_a_restore_that_runs_out_of_room_while_replaying_stops_and_leaves_nothing(prod):
    # A volume that holds the newest backup (and passes the restore's own check for room: 120% of the
    # largest) but not one WAL segment (16 MiB) more: replay stalls as it does at the archive's end, and
    # taking that for the end would switch in a cluster missing every commit since the backup.
    info = json.loads(prod.compose("exec", "-T", "pitr", "pgbackrest-run.sh", "info", "--output=json").stdout)
    largest = max(b["info"]["size"] for b in info[0]["backup"])
    mebibytes = int(largest * 1.2 / 2**20) + 2
    assert mebibytes - largest / 2**20 < 16, "the database outgrew this test's volume: one segment would fit"
    volume = f"{prod.project}_tiny"
    options = f"size={mebibytes}m,uid=999,gid=999,mode=0700"  # the postgres user of the image
    subprocess.run(
        ["docker", "volume", "create", "--driver", "local", "--opt", "type=tmpfs", "--opt", "device=tmpfs",
         "--opt", f"o={options}", volume],
        check=True, capture_output=True,
    )  # fmt: skip
    try:
        started = time.monotonic()
        result = prod.compose(
            "run", "--rm", "--no-deps", "-T", "-v", f"{volume}:/scratch", "pitr-restore",
            "pitr-restore.sh", "/scratch/cluster", "latest", check=False,
        )  # fmt: skip
        took = time.monotonic() - started
        assert result.returncode == 1, result.stdout[-2000:] + result.stderr[-2000:]
        assert "is ready to switch in" not in result.stdout
        assert "pitr-restore: replay stopped: fetching a WAL segment from the archive fails:" in result.stderr
        assert "unable to write" in result.stderr
        left = subprocess.run(
            ["docker", "run", "--rm", "-v", f"{volume}:/scratch", "--entrypoint", "ls", "desideliver-db:17",
             "-A", "/scratch"],
            capture_output=True, text=True, check=True,
        ).stdout.split()  # fmt: skip
        assert left == [], f"a half-restored cluster was left behind: {left}"
        figure(f"PITR: a restore out of room while replaying refused in {took:.1f}s")
    finally:
        subprocess.run(["docker", "volume", "rm", "--force", volume], capture_output=True)


def test_a_drill_proves_the_newest_backup_and_names_a_corrupted_file(prod):
    # It damages the repository, then restores from the backup before the damaged one.
    placed = order(prod)
    ran = prod.inv("db.drill", "--env", "prod")
    passed = ran.stdout + ran.stderr
    assert "pitr-drill: passed" in passed
    assert re.search(r"✓ last restore drill \S+ \(\d+ s\) passed: \S+ replayed to \S+, \d+ tables, \d+ rows", passed)
    figure(f"PITR: {ran.stdout.strip().splitlines()[-1].lstrip('✓ ')}")
    earlier = backup_labels(prod)[-1]
    prod.compose("exec", "-T", "pitr", "pgbackrest-run.sh", "backup", "--type=full")
    newest = backup_labels(prod)[-1]
    assert newest != earlier
    damaged = prod.compose(
        "exec", "-T", "pitr", "sh", "-c",
        f"f=$(find /var/lib/pgbackrest/backup/desideliver/{newest} -path '*pg_data/base/*' -type f -size +8k"
        " | sort | tail -n 1) && printf garbage | dd of=\"$f\" bs=1 seek=100 conv=notrunc 2>/dev/null && echo \"$f\"",
    ).stdout.strip()  # fmt: skip
    assert damaged
    failed = prod.inv("db.drill", "--env", "prod", check=False)
    assert failed.returncode != 0
    name = damaged.split("/backup/desideliver/")[1]
    said = failed.stderr + failed.stdout
    assert f"the repository holds damaged files: invalid checksum '{name}'; backups still valid:" in said
    assert re.search(rf"backups still valid: [^;]*\b{earlier}\b", said), said[-2000:]
    prod.wait_for(lambda: health(prod, "pitr") == "unhealthy", "pitr unhealthy after the failed drill", timeout=60)
    listing = prod.inv("db.backups", "--env", "prod").stdout
    assert f"FAILED: the repository holds damaged files: invalid checksum '{name}'" in listing
    assert prod.request("GET", "/api/v1/health/ready/", headers=HTTPS).status == 200  # the shop serves on

    # A restore reads the damaged backup: refused, naming the file and the earlier backup that verifies.
    ids = order_ids(prod)
    refused = prod.inv("db.restore", "--env", "prod", "--to", "latest", "--yes", check=False)
    said = refused.stdout + refused.stderr
    assert refused.returncode == 1, said[-2000:]
    assert f"pitr-restore: backup {newest} is damaged: invalid checksum '{name}'." in said
    assert f"the newest earlier backup that verifies is {earlier}: restore from it with --backup {earlier}" in said
    assert "The live cluster is unchanged." in said
    assert order_ids(prod) == ids
    later = order(prod)

    # From the earlier backup, the archive replayed past the damaged one: every order is there.
    started = time.monotonic()
    restored = prod.inv("db.restore", "--env", "prod", "--to", "latest", "--backup", earlier, "--yes")
    figure(
        f"PITR: restore from the backup before a damaged one: {time.monotonic() - started:.1f}s; "
        f"{restored.stdout.splitlines()[-2].strip()}"
    )
    assert {placed, later} <= set(order_ids(prod))
    assert prod.request("GET", "/api/v1/health/ready/", headers=HTTPS).status == 200

    # Recovered as docs/operations.md says: a new full backup, the damaged one expired, a drill that passes.
    prod.compose("exec", "-T", "pitr", "pgbackrest-run.sh", "backup", "--type=full")
    prod.compose("exec", "-T", "pitr", "pgbackrest-run.sh", "expire", f"--set={newest}")
    assert newest not in backup_labels(prod)
    prod.inv("db.drill", "--env", "prod")
    prod.wait_for(lambda: health(prod, "pitr") == "healthy", "pitr healthy after a passing drill", timeout=60)


@pytest.fixture
def offsite(prod):
    """An SFTP server standing in for another machine, on the stack's `offsite` network; its pinned host key."""
    subprocess.run(
        ["docker", "build", "-q", "-t", "desideliver-e2e-offsite", str(Path(__file__).parent / "offsite")],
        check=True, capture_output=True,
    )  # fmt: skip
    keys = Path(prod.values["SECRETS_DIR"]).parent / "offsite-keys"
    keys.mkdir(exist_ok=True)
    subprocess.run(
        ["docker", "run", "--rm", "-v", f"{keys}:/keys", "--entrypoint", "sh", "desideliver-e2e-offsite", "-c",
         "ssh-keygen -q -t ed25519 -N '' -C desideliver -f /keys/id && chmod 0644 /keys/id"],
        check=True, capture_output=True,
    )  # fmt: skip
    name = f"{prod.project}-offsite"
    subprocess.run(
        ["docker", "run", "-d", "--name", name, "--network", f"{prod.project}_offsite", "--network-alias", "offsite",
         "-e", f"AUTHORIZED_KEY={(keys / 'id.pub').read_text().strip()}", "desideliver-e2e-offsite"],
        check=True, capture_output=True,
    )  # fmt: skip
    try:
        fingerprint = prod.wait_for(
            lambda: subprocess.run(
                ["docker", "exec", name, "sh", "-c",
                 "f=/etc/ssh/ssh_host_ed25519_key.pub; test -s $f && awk '{print $2}' $f | base64 -d | sha256sum"
                 " | cut -d' ' -f1"],
                capture_output=True, text=True,
            ).stdout.strip(),
            "the SFTP server's host key",
        )  # fmt: skip
        yield keys / "id", fingerprint
    finally:
        subprocess.run(["docker", "rm", "--force", name], capture_output=True)


def test_the_off_host_repository_alone_restores_the_cluster_when_the_host_loses_its_disks(prod, offsite):
    # Last: it deletes the local repository (with the damaged backup the drill test left in it).
    key, fingerprint = offsite
    (Path(prod.values["SECRETS_DIR"]) / "offsite_ssh_key").write_text(key.read_text())
    settings = {
        "PITR_OFFSITE": "sftp://pgbackrest@offsite/home/pgbackrest/repository",
        "PITR_OFFSITE_FINGERPRINT": fingerprint,
        # The stand-in server is on the offsite network itself: no route out needed (a real host: unset).
        "PITR_OFFSITE_INTERNAL": "true",
    }
    text = prod.env_file.read_text()
    for name, value in settings.items():
        text = re.sub(rf"^{name}=.*$", f"{name}={value}", text, flags=re.M)
    prod.env_file.write_text(text)
    # prod.up waits for every service: the earlier tests' restores must have settled (one run found web unhealthy).
    settled = ("web", "pitr", "db")
    prod.wait_for(lambda: all(health(prod, s) == "healthy" for s in settled), "web, pitr and db healthy", timeout=90)
    health_before = {service: health(prod, service) for service in settled}
    up = prod.inv("prod.up", check=False)  # db and pitr take the off-host repository; pitr backs up to it at once
    assert up.returncode == 0, f"health before: {health_before}\n{up.stdout[-3000:]}{up.stderr[-3000:]}"
    prod.wait_for(
        lambda: " off-host full " in prod.inv("db.backups", "--env", "prod").stdout,
        "a full backup in the off-host repository",
        timeout=300,
        interval=5,
    )
    listing = prod.inv("db.backups", "--env", "prod").stdout
    assert re.search(r"off-host WAL 0\S+ \.\. 0\S+", listing), listing
    placed = [order(prod) for _ in range(3)]
    # pgBackRest's check: a WAL switch archived in every repository before it returns.
    prod.compose("exec", "-T", "pitr", "pgbackrest-run.sh", "check")
    # The other machine holds only ciphertext.
    sftp = f"{prod.project}-offsite"
    newest = subprocess.run(
        ["docker", "exec", sftp, "sh", "-c",
         "find /home/pgbackrest/repository/archive -name '0000*.lz4' | sort | tail -n 1 | xargs head -c 8"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert newest == "Salted__", "the off-host repository holds WAL that is not encrypted"

    # The host loses its disks: the database's volume and the local repository both go.
    ids = order_ids(prod)
    prod.compose("kill", "-s", "SIGKILL", "db")
    prod.compose("rm", "--stop", "--force", "db", "pitr")
    for volume in ("postgres_data", "pgbackrest_repo"):
        removed = subprocess.run(["docker", "volume", "rm", f"{prod.project}_{volume}"], capture_output=True)
        assert removed.returncode == 0, removed.stderr
    started = time.monotonic()
    result = prod.inv("db.restore", "--env", "prod", "--to", "latest", "--yes", timeout=900)
    took = time.monotonic() - started
    figure(
        f"PITR: host's disks lost (database volume and local repository): restored from the off-host repository "
        f"alone in {took:.1f}s; {result.stdout.splitlines()[-2].strip()}"
    )
    assert order_ids(prod) == ids
    assert set(placed) <= set(ids)
    # Archiving and backups resume: pitr recreates the local repository and backs up into it.
    prod.wait_for(lambda: health(prod, "pitr") == "healthy", "pitr healthy with both repositories", timeout=300)
    listing = prod.inv("db.backups", "--env", "prod").stdout
    assert " local    full " in listing, listing
    assert order(prod) not in ids
