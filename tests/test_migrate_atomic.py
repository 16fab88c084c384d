"""migrate_atomic: a failing migration rolls back the ones before it too."""

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.recorder import MigrationRecorder


@pytest.mark.postgres("transactional DDL across migrations is a PostgreSQL feature")
@pytest.mark.django_db(transaction=True)
def test_a_failing_migration_rolls_back_every_migration_of_the_run(settings, tmp_path, monkeypatch):
    package = tmp_path / "e2e_migrations"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "0001_initial.py").write_text(
        "from django.db import migrations\n"
        "class Migration(migrations.Migration):\n"
        "    dependencies = [('catalog', '0001_initial')]\n"
        "    operations = [migrations.RunSQL('CREATE TABLE migrate_atomic_probe (id int)')]\n"
    )
    (package / "0002_fails.py").write_text(
        "from django.db import migrations\n"
        "class Migration(migrations.Migration):\n"
        "    dependencies = [('core', '0001_initial')]\n"
        "    operations = [migrations.RunSQL('SELECT 1/0')]\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    settings.MIGRATION_MODULES = {"core": "e2e_migrations"}

    with pytest.raises(Exception, match="division by zero"):
        call_command("migrate_atomic", "--verbosity", "0")

    assert "migrate_atomic_probe" not in connection.introspection.table_names()
    assert not MigrationRecorder.Migration.objects.filter(app="core").exists()
