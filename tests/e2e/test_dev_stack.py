"""The development stack, end to end: ./inv dev.up from nothing and what it promises.

The tests share one stack and run in file order: the persistence test that
takes the stack down comes last.
"""

import base64
import re
import subprocess
import time
import uuid

import pytest

from tests.helpers import inv

from .conftest import ROOT, dev_settings, make_stack, register_and_login, running

pytestmark = pytest.mark.e2e

SERVICES = ("db", "redis", "web", "worker", "beat")
# Not the CI user (root): proves files made in the container belong to HOST_UID.
HOST_UID = "4321"


@pytest.fixture(scope="module")
def dev(tmp_path_factory):
    stack = make_stack(
        "dev",
        tmp_path_factory.mktemp("dev"),
        dev_settings(CART_PURGE_INTERVAL_SECONDS="5"),
        extra_env={"HOST_UID": HOST_UID, "HOST_GID": HOST_UID},
    )
    with running(stack, "dev.up", "--docker"):
        yield stack


def assert_short_summary(output: str) -> None:
    """What dev.up prints: a few progress lines and a summary whose URLs work, never compose's build log."""
    lines = output.strip().splitlines()
    assert len(lines) <= 20, output
    assert "Step 1/" not in output  # the classic builder's log went to the file
    assert "demo@desideliver.local / demo-pass-2024" in output
    assert "./inv test" in output
    assert re.search(r"API: +http://localhost:\d+/api/v1/", output)


def test_dev_up_prints_progress_and_a_summary_and_keeps_the_full_log(dev):
    assert_short_summary(dev.started.stdout)
    assert "full output goes to var/log/dev.up.log" in dev.started.stdout
    assert dev.request("GET", "/api/v1/").status == 200  # the first URL it prints answers
    log = (ROOT / "var" / "log" / "dev.up.log").read_text()
    assert " build web" in log


def test_every_service_is_healthy(dev):
    for service in SERVICES:
        assert dev.inspect(service)["State"]["Health"]["Status"] == "healthy", service
    migrate = dev.compose("ps", "--all", "--format", "{{.Service}} {{.State}} {{.ExitCode}}", "migrate").stdout
    assert migrate.split() == ["migrate", "exited", "0"]


def test_api_flow_register_login_products_cart_order_ticket(dev):
    token = register_and_login(dev, f"flow-{uuid.uuid4().hex[:6]}@example.com")
    products = dev.request("GET", "/api/v1/products/?in_stock=true").json()
    assert products["count"] > 0  # demo data was loaded on first start
    product = products["results"][0]
    cart = dev.request("POST", "/api/v1/cart/add/", {"product_id": product["id"], "quantity": 2}, token)
    assert cart.status == 201, cart.body
    order = dev.request("POST", "/api/v1/orders/create/", {"delivery_address": "1 Test Lane"}, token)
    assert order.status == 201, order.body
    assert dev.request("GET", f"/api/v1/orders/{order.json()['id']}/", token=token).json()["items"][0]["quantity"] == 2
    ticket = dev.request(
        "POST", "/api/v1/tickets/", {"subject": "Where?", "message": "Late", "order": order.json()["id"]}, token
    )
    assert ticket.status == 201, ticket.body
    # Celery: the worker ran the confirmation task the web container queued.
    order_id = order.json()["id"]
    dev.wait_for(
        lambda: f"order confirmation sent: order={order_id}" in dev.logs("worker"),
        "the confirmation email in the worker log",
    )
    assert f"Subject: DesiDeliver order #{order_id} confirmed" in dev.logs("worker")


def test_beat_schedules_the_periodic_task_and_the_worker_runs_it(dev):
    dev.wait_for(lambda: "Sending due task purge-stale-carts" in dev.logs("beat"), "beat to send purge-stale-carts")
    dev.wait_for(lambda: "purge_stale_carts: deleted" in dev.logs("worker"), "the worker to run the purge")


def test_flower_joins_the_running_stack_behind_basic_auth_and_lists_the_worker(dev):
    user, password, port = (dev.values[name] for name in ("FLOWER_USER", "FLOWER_PASSWORD", "FLOWER_PORT"))
    started = dev.inv("dev.up", "--docker", "--flower")  # on the stack that runs: only flower is new
    try:
        assert f"Flower:  http://localhost:{port}/  (login {user} / {password})" in started.stdout
        flower = f"http://127.0.0.1:{port}"
        anonymous = dev.request("GET", "/api/workers", base=flower)
        assert anonymous.status == 401, anonymous.body[:300]
        wrong = {"Authorization": "Basic " + base64.b64encode(f"{user}:not-the-password".encode()).decode()}
        assert dev.request("GET", "/api/workers", headers=wrong, base=flower).status == 401
        login = {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}
        # Celery names a worker after its host: the worker container's hostname.
        worker = f"celery@{dev.inspect('worker')['Config']['Hostname']}"

        def listed() -> bool:
            # refresh: Flower asks the workers now (a broadcast), instead of answering from what it last heard.
            workers = dev.request("GET", "/api/workers?refresh=1", headers=login, base=flower)
            return workers.status == 200 and worker in workers.json()

        dev.wait_for(listed, f"Flower to list {worker}", timeout=60, interval=2)
    finally:
        dev.compose("--profile", "flower", "rm", "--stop", "--force", "flower")


def test_manage_and_shell_run_commands(dev):
    assert re.search(r"\[X\] 0001_initial", dev.inv("dev.manage", "showmigrations orders").stdout)
    count = dev.inv("dev.shell", "--command", "from catalog.models import Product; print(Product.objects.count())")
    assert count.stdout.strip().splitlines()[-1] == "14"


def test_piped_input_reaches_psql_and_the_django_shell(dev):
    def piped(*args: str, text: str) -> str:
        result = inv(*args, env=dev.environ, stdin_text=text, timeout=120, check=True)
        return [line.strip() for line in result.stdout.splitlines()]

    assert "42" in piped("db.psql", text="SELECT 40 + 2;\n")
    assert "14" in piped("dev.shell", text="from catalog.models import Product; print(Product.objects.count())\n")
    assert "42" in piped("db.psql", "-c", "SELECT 6 * 7", text="")
    assert "psql on database desideliver as role desideliver" in piped("db.psql", "-c", "SELECT 1", text="")


def test_files_created_in_the_container_belong_to_the_host_user(dev, tmp_path):
    assert dev.compose("exec", "-T", "web", "id", "-u").stdout.strip() == HOST_UID
    scratch = ROOT / "var" / f"e2e-{uuid.uuid4().hex[:8]}"
    scratch.mkdir(parents=True)
    scratch.chmod(0o777)
    try:
        dev.compose("exec", "-T", "web", "touch", f"/app/var/{scratch.name}/made-in-container")
        assert str((scratch / "made-in-container").stat().st_uid) == HOST_UID
    finally:
        for path in scratch.iterdir():
            path.unlink()
        scratch.rmdir()


def test_hot_reload_changes_the_response_without_restart(dev):
    source = ROOT / "src" / "core" / "health.py"
    original = source.read_text()
    marker = uuid.uuid4().hex[:8]
    started = dev.inspect("web")["State"]["StartedAt"]
    live = 'return Response({"status": "ok"})'
    assert live in original
    try:
        source.write_text(original.replace(live, f'return Response({{"status": "ok", "reload": "{marker}"}})', 1))
        dev.wait_for(
            lambda: marker.encode() in dev.body_or_nothing("/api/v1/health/"),
            "the dev server to reload the changed file",
        )
        # The restarted server answers before its reloader has looked at the files:
        # a revert within that moment would go unnoticed (Django's StatReloader).
        time.sleep(2)
    finally:
        source.write_text(original)
    dev.wait_for(lambda: dev.body_or_nothing("/api/v1/health/") == b'{"status":"ok"}', "the reload back")
    assert dev.inspect("web")["State"]["StartedAt"] == started  # reloaded in place, not restarted


def test_backup_wipe_restore_brings_the_rows_back(dev):
    email = f"keep-{uuid.uuid4().hex[:6]}@example.com"
    register_and_login(dev, email)
    count = (
        "from accounts.models import User; from orders.models import Order; "
        "print(User.objects.count(), Order.objects.count())"
    )
    before = dev.inv("dev.shell", "--command", count).stdout.strip().splitlines()[-1]
    assert before.split()[1] != "0"  # the API flow test placed an order
    backup = dev.inv("db.backup")
    assert "✓ backup" in backup.stdout
    assert len(list(dev.backups.glob("*.dump"))) == 1
    wipe = (
        "from accounts.models import User; from orders.models import Order; "
        "Order.objects.all().delete(); User.objects.all().delete()"
    )
    dev.inv("dev.shell", "--command", wipe)
    assert dev.inv("dev.shell", "--command", count).stdout.strip().splitlines()[-1] == "0 0"

    refused = dev.inv("db.restore", "latest", check=False)  # no terminal and no --yes: refuse, touch nothing
    assert refused.returncode != 0
    assert "refusing without confirmation" in refused.stdout + refused.stderr
    assert dev.inv("dev.shell", "--command", count).stdout.strip().splitlines()[-1] == "0 0"

    dev.inv("db.restore", "latest", "--yes")
    assert dev.inv("dev.shell", "--command", count).stdout.strip().splitlines()[-1] == before
    assert dev.request("GET", "/api/v1/health/ready/").status == 200


def test_test_suite_passes_inside_the_web_container(dev):
    # The API's tests, on the stack's own PostgreSQL and Redis: the task layer's drive Docker from the host,
    # and the host runs them (twice) in CI already.
    result = dev.inv("test", "--docker", "--path", "tests/api", timeout=1200)
    assert re.search(r"\d+ passed", result.stdout)
    assert " failed" not in result.stdout.splitlines()[-1]


def test_a_wrong_database_password_fails_in_seconds_naming_the_cause(dev):
    original = dev.env_file.read_text()
    right = f"POSTGRES_PASSWORD={dev.values['POSTGRES_PASSWORD']}"
    assert right in original
    dev.env_file.write_text(original.replace(right, "POSTGRES_PASSWORD=not-the-one-the-volume-was-made-with"))
    started = time.monotonic()
    try:
        failed = dev.inv("dev.up", "--docker", check=False)
    finally:
        dev.env_file.write_text(original)
    took = time.monotonic() - started
    shown = failed.stdout + failed.stderr
    assert failed.returncode != 0
    assert "migrate is exited" in shown
    assert "password authentication failed" in shown
    assert "likely cause: POSTGRES_PASSWORD" in shown
    assert took < 45, f"took {took:.0f}s to fail"
    # The right password back: a second dev.up repairs the stack and is as short as the first.
    assert_short_summary(dev.inv("dev.up", "--docker").stdout)


def test_data_survives_down_and_up_and_is_removed_only_with_confirmation(dev):
    email = f"persist-{uuid.uuid4().hex[:6]}@example.com"
    register_and_login(dev, email)
    dev.inv("dev.down")
    dev.inv("dev.up", "--docker")
    exists = f"from accounts.models import User; print(User.objects.filter(email='{email}').exists())"
    assert dev.inv("dev.shell", "--command", exists).stdout.strip().splitlines()[-1] == "True"

    volume = f"{dev.project}_postgres_data"
    refused = dev.inv("dev.down", "--volumes", check=False)
    assert refused.returncode != 0
    assert "deletes every data volume" in refused.stdout + refused.stderr
    assert volume in _volumes()

    dev.inv("dev.down", "--volumes", "--yes")
    time.sleep(1)
    assert volume not in _volumes()


def _volumes() -> str:
    return subprocess.run(["docker", "volume", "ls", "--format", "{{.Name}}"], capture_output=True, text=True).stdout
