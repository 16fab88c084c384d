"""migrate_atomic: a failing migration rolls back the ones before it too, and none waits long for a lock."""

import threading
import time

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction
from django.db.migrations.recorder import MigrationRecorder


@pytest.fixture
def core_migrations(settings, tmp_path, monkeypatch):
    """Make `core`'s migrations these ({name: operations source}), each after the one before."""

    def write(migrations: dict[str, str]) -> None:
        package = tmp_path / "e2e_migrations"
        package.mkdir()
        (package / "__init__.py").write_text("")
        previous = ("catalog", "0001_initial")
        for name, operations in migrations.items():
            (package / f"{name}.py").write_text(
                "from django.db import migrations\n"
                "class Migration(migrations.Migration):\n"
                f"    dependencies = [{previous!r}]\n"
                f"    operations = [{operations}]\n"
            )
            previous = ("core", name)
        monkeypatch.syspath_prepend(str(tmp_path))
        settings.MIGRATION_MODULES = {"core": "e2e_migrations"}

    return write


def assert_no_core_migration_applied() -> None:
    assert not MigrationRecorder.Migration.objects.filter(app="core").exists()


@pytest.mark.postgres("transactional DDL across migrations is a PostgreSQL feature")
@pytest.mark.django_db(transaction=True)
def test_a_failing_migration_rolls_back_every_migration_of_the_run(core_migrations):
    core_migrations(
        {
            "0001_initial": "migrations.RunSQL('CREATE TABLE migrate_atomic_probe (id int)')",
            "0002_fails": "migrations.RunSQL('SELECT 1/0')",
        }
    )

    with pytest.raises(Exception, match="division by zero"):
        call_command("migrate_atomic", "--verbosity", "0")

    assert "migrate_atomic_probe" not in connection.introspection.table_names()
    assert_no_core_migration_applied()


@pytest.mark.postgres("lock_timeout is a PostgreSQL setting")
@pytest.mark.django_db(transaction=True)
def test_a_migration_waiting_on_a_lock_gives_up_soon_naming_the_timeout_and_applying_nothing(core_migrations, settings):
    core_migrations(
        {
            "0001_initial": "migrations.RunSQL('CREATE TABLE migrate_atomic_probe (id int)')",
            "0002_needs_products": "migrations.RunSQL('ALTER TABLE catalog_product ADD COLUMN lock_probe int')",
        }
    )
    settings.MIGRATION_LOCK_TIMEOUT = 1
    locked, release = threading.Event(), threading.Event()

    def long_transaction_holding_products() -> None:
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("LOCK TABLE catalog_product IN ACCESS EXCLUSIVE MODE")
                locked.set()
                release.wait(timeout=10)  # without a lock timeout the migration waits all of this
        finally:
            connection.close()

    holder = threading.Thread(target=long_transaction_holding_products)
    holder.start()
    try:
        assert locked.wait(timeout=10)
        started = time.monotonic()
        with pytest.raises(CommandError) as error:
            call_command("migrate_atomic", "--verbosity", "0")
        waited = time.monotonic() - started
    finally:
        release.set()
        holder.join(timeout=15)

    assert waited < 5
    message = str(error.value)
    assert "waited more than 1 s for a lock (MIGRATION_LOCK_TIMEOUT)" in message
    assert "no migration was applied" in message
    assert "pg_stat_activity" in message
    assert "migrate_atomic_probe" not in connection.introspection.table_names()
    with connection.cursor() as cursor:
        columns = [c.name for c in connection.introspection.get_table_description(cursor, "catalog_product")]
    assert "lock_probe" not in columns
    assert_no_core_migration_applied()
