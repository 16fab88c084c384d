"""prod.deploy: no lost requests, and every failure ends with the previous version serving."""

import json

import pytest

from .conftest import (
    HTTPS,
    ROOT,
    Load,
    extra_migration,
    failing_migration,
    make_stack,
    newest_migration,
    prod_settings,
    running,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def prod(tmp_path_factory):
    stack = make_stack("prod", tmp_path_factory.mktemp("deploy"), prod_settings())
    with running(stack, "prod.deploy", "--tag", "e2e-v1"):
        stack.compose("exec", "-T", "web", "python", "manage.py", "load_demo_data")  # products to shop for
        yield stack


def web_image(prod) -> str:
    images = {prod.inspect_container(c)["Config"]["Image"] for c in prod.compose("ps", "-q", "web").stdout.split()}
    assert len(images) == 1, images
    return images.pop()


def record(prod) -> dict:
    return json.loads((ROOT / "var" / "deploy" / f"{prod.project}.json").read_text())


def test_a_deploy_under_mixed_reads_and_writes_loses_no_request(prod):
    with Load(prod) as load:
        out = prod.inv("prod.deploy", "--tag", "e2e-v2").stdout
    assert load.reads > 50
    assert load.writes > 50
    assert load.failed == 0, load.errors[:5]
    assert "traffic moved to the new web container; draining 1 old container(s)" in out
    assert "probes through the proxy (GET and POST) answered" in out
    assert web_image(prod) == "desideliver-django:e2e-v2"
    assert record(prod) == {"current": "e2e-v2", "previous": "e2e-v1"}
    assert list(prod.backups.glob("desideliver-prod-*-pre-deploy.dump"))


def test_an_image_that_fails_its_health_check_is_rolled_back_and_says_the_schema_is_newer(prod):
    source = ROOT / "src" / "core" / "health.py"
    original = source.read_text()
    live = 'return Response({"status": "ok"})'
    assert live in original
    # A harmless migration ships with the broken code: it runs before the rollout fails.
    note = "migrations.AddField('product', 'e2e_note', models.TextField(null=True))"
    with extra_migration("catalog", "0099_e2e_newer", newest_migration("catalog"), note) as migration:
        try:
            source.write_text(original.replace(live, 'return Response({"status": "broken"}, status=500)', 1))
            with Load(prod) as load:
                result = prod.inv("prod.deploy", "--tag", "e2e-broken", "--wait-timeout", "120", check=False)
        finally:
            source.write_text(original)
    assert load.failed == 0, load.errors[:5]  # the broken container never received a request
    message = result.stdout + result.stderr
    assert result.returncode != 0
    assert "the new web container did not become healthy" in message
    assert "failed and was rolled back; :e2e-v2 is serving" in message
    assert "pre-deploy backup: " in message
    assert f"schema: NEWER than the code rolled back to (catalog.{migration.stem}" in message
    assert web_image(prod) == "desideliver-django:e2e-v2"
    assert prod.request("GET", "/api/v1/health/ready/", headers=HTTPS).status == 200
    assert record(prod)["current"] == "e2e-v2"


def schema_and_data(prod) -> tuple[str, str, str]:
    def psql(sql: str) -> str:
        return prod.compose(
            "exec", "-T", "db", "psql", "-X", "-tA", "-U", "desideliver", "-d", "desideliver", "-c", sql
        ).stdout.strip()

    return (
        psql(
            "SELECT string_agg(column_name, ',' ORDER BY column_name) FROM information_schema.columns "
            "WHERE table_name = 'catalog_product'"
        ),
        psql("SELECT string_agg(app || '.' || name, ',' ORDER BY id) FROM django_migrations"),
        psql("SELECT count(*) || ':' || md5(string_agg(p::text, ',' ORDER BY p.id)) FROM catalog_product p"),
    )


def test_a_failing_migration_leaves_schema_and_data_as_they_were(prod):
    before = schema_and_data(prod)
    with failing_migration():
        result = prod.inv("prod.deploy", "--tag", "e2e-badmig", check=False)
    message = result.stdout + result.stderr
    assert result.returncode != 0
    assert "apply migrations (all or none) from the new image' failed" in message
    assert "schema: unchanged (the failed deploy applied no migration)" in message
    assert "division by zero" in message
    assert schema_and_data(prod) == before
    assert web_image(prod) == "desideliver-django:e2e-v2"
    assert prod.request("GET", "/api/v1/products/", headers=HTTPS).status == 200


def test_rollback_redeploys_the_previous_tag(prod):
    prod.inv("prod.rollback")
    assert web_image(prod) == "desideliver-django:e2e-v1"
    assert record(prod) == {"current": "e2e-v1", "previous": "e2e-v2"}
    assert prod.request("GET", "/api/v1/health/ready/", headers=HTTPS).status == 200


def test_a_deploy_onto_a_stopped_stack_backs_up_the_database_first(prod):
    prod.inv("prod.down")
    before = set(prod.backups.glob("desideliver-prod-*-pre-deploy.dump"))
    prod.inv("prod.deploy", "--tag", "e2e-v3")
    assert len(set(prod.backups.glob("desideliver-prod-*-pre-deploy.dump")) - before) == 1
    assert web_image(prod) == "desideliver-django:e2e-v3"
    assert prod.request("GET", "/api/v1/health/ready/", headers=HTTPS).status == 200
