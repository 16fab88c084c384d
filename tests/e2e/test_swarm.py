"""The prod stack on a real three-node Docker Swarm (dind nodes), images through a registry.

The swarm is made with ./inv swarm.init and swarm.label, and the stack deployed
with ./inv swarm.deploy: the images pushed to the lab's registry, the stack
file generated from compose/prod with the images by digest. The test then
uses the API through the proxy over TLS; runs a rolling update of web, a node
drain and an update to an image that fails its health check (which swarm
rolls back by itself), each under a read load that must lose nothing; deploys
a failing migration (the deploy stops, nothing running changes); moves the
data from the swarm to a single-host stack and back with swarm.backup and
swarm.restore; scales and rolls back through the tasks; searches every
service's and task's `docker inspect` for secret values; and kills a node's
engine outright: the stack recovers on the nodes left, with the data on the
pinned database node intact.
"""

import hashlib
import secrets
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from .conftest import (
    HTTPS,
    ROOT,
    BackgroundLoad,
    failing_migration,
    figure,
    make_stack,
    prod_settings,
    register_and_login,
    running,
)

pytestmark = pytest.mark.e2e

LAB = Path(__file__).parent / "swarm" / "compose.yaml"
TAG = "e2e-swarm"
HOST = "shop.example.com"


def run(*command: str, check: bool = True, timeout: int = 600) -> str:
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(command)} exited {result.returncode}: {result.stderr[-2000:]}")
    return result.stdout


class Lab:
    def __init__(self, project: str):
        self.project = project

    def compose(self, *args: str, check: bool = True) -> str:
        return run("docker", "compose", "-p", self.project, "-f", str(LAB), *args, check=check)

    def address(self, node: str) -> str:
        container = self.compose("ps", "--all", "-q", node).strip()  # a killed node has no address left
        return run(
            "docker", "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", container
        ).strip()

    def answers(self, node: str) -> bool:
        """Whether the node's engine is up (`docker info` prints its client half even when it is not)."""
        command = ["docker", "-H", f"tcp://{self.address(node)}:2375", "version", "--format", "{{.Server.Version}}"]
        return subprocess.run(command, capture_output=True, timeout=30).returncode == 0

    def docker(self, node: str, *args: str, check: bool = True, timeout: int = 600) -> str:
        return run("docker", "-H", f"tcp://{self.address(node)}:2375", *args, check=check, timeout=timeout)

    def wait(self, predicate, what: str, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(2)
        raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


@pytest.fixture(scope="module")
def swarm(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("swarm")
    lab = Lab(f"e2e-swarm-{uuid.uuid4().hex[:6]}")
    prod = make_stack("prod", tmp, prod_settings(HTTPS_PORT="443", HTTP_PORT="80"))
    try:
        lab.compose("up", "--detach")
        lab.wait(lambda: all(lab.answers(n) for n in ("node1", "node2", "node3")), "3 engines")
        manager, port = lab.address("node1"), lab.compose("port", "registry", "5000").strip().rsplit(":", 1)[1]
        lab.push_port = port
        # The swarm settings an operator puts in .env.prod: a manager's engine and the registry.
        with prod.env_file.open("a") as env:
            env.write(f"SWARM_HOST=tcp://{manager}:2375\nSWARM_STACK=shop\nSWARM_REGISTRY=registry:5000\n")
            env.write(f"SWARM_PUSH_REGISTRY=localhost:{port}\n")
            env.write(f"SWARM_DATA_HOST=tcp://{lab.address('node2')}:2375\n")
            # The lab's engines are plain tcp on a private compose network, so the lab opts in.
            # TLS would need one CA for the three nodes (SWARM_TLS_DIR holds one client
            # certificate), but each dind node makes its own CA (and ../shared's look-alike
            # a server certificate for its hostname and 127.0.0.1 only, not its address).
            env.write("SWARM_ALLOW_PLAIN_TCP=yes\n")
        joining = prod.inv("swarm.init", "--advertise-addr", manager).stdout
        token = next(word for word in joining.split() if word.startswith("SWMTKN-"))
        for node in ("node2", "node3"):
            lab.docker(node, "swarm", "join", "--token", token, f"{manager}:2377")
        prod.inv("swarm.label", "--data", "node2", "--edge", "node1")
        # The backups directory on the data node (a bind mount there, as on a real host).
        run("docker", "exec", lab.compose("ps", "-q", "node2").strip(), "mkdir", "-p", str(prod.backups))
        started = time.monotonic()
        lab.deployed = prod.inv("swarm.deploy", "--tag", TAG, timeout=1200).stdout
        figure(f"first swarm.deploy (build, push, db, jobs, stack): {time.monotonic() - started:.0f} s")
        prod.base_override = f"https://{lab.address('node1')}:443"
        lab.prod = prod
        lab.wait(lambda: get(lab, "/api/v1/health/ready/") == 200, "readiness through the proxy", 300)
        yield lab
    finally:
        lab.compose("down", "--volumes", "--timeout", "5", check=False)
        (ROOT / "var" / "deploy" / f"{prod.project}.json").unlink(missing_ok=True)


def get(lab: Lab, path: str) -> int:
    try:
        return lab.prod.request("GET", path, headers={"Host": HOST}).status
    except OSError:
        return 0


def web_containers(lab: Lab) -> list[tuple[str, str]]:
    """(node, container) of every running web task."""
    found = []
    for node in ("node1", "node2", "node3"):
        for container in lab.docker(node, "ps", "-q", "--filter", "name=shop_web", check=False).split():
            found.append((node, container))
    return found


class Reads(BackgroundLoad):
    """A bounded read load through the proxy (90 s at most); counts what did not answer 200."""

    seconds = 90

    def __init__(self, lab: Lab):
        super().__init__()
        self.lab, self.sent, self.failed = lab, 0, []

    def step(self) -> None:
        status = get(self.lab, "/api/v1/categories/?page_size=1&n=" + str(self.sent))  # past the proxy cache
        self.sent += 1
        if status != 200:
            self.failed.append(status)


def test_three_nodes_run_the_stack_from_the_registry_by_digest(swarm):
    for setting in ("SWARM_HOST", "SWARM_DATA_HOST"):  # the lab's opt-in to plain tcp is said, not silent
        assert f"! {setting}=tcp://" in swarm.deployed
    assert "is plain TCP (SWARM_ALLOW_PLAIN_TCP=yes)" in swarm.deployed
    assert "✓ shop_db-roles completed" in swarm.deployed
    assert "✓ shop_migrate completed" in swarm.deployed
    assert "no backup service yet (a first deploy)" in swarm.deployed
    assert "✓ every service of shop runs its replicas" in swarm.deployed
    nodes = swarm.docker("node1", "node", "ls", "--format", "{{.Hostname}} {{.Status}}")
    assert sorted(nodes.split("\n")[:3]) == ["node1 Ready", "node2 Ready", "node3 Ready"]
    images = swarm.docker("node1", "service", "ls", "--format", "{{.Name}} {{.Image}}")
    assert all("@sha256:" in line for line in images.strip().splitlines())
    placed = swarm.docker(
        "node1", "service", "ps", "shop_db", "--filter", "desired-state=running", "--format", "{{.Node}}"
    )
    assert placed.strip() == "node2"


def test_the_whole_api_flow_works_through_the_proxy_over_tls(swarm):
    node, container = web_containers(swarm)[0]
    swarm.docker(node, "exec", container, "python", "manage.py", "load_demo_data", "--if-empty")
    prod, headers = swarm.prod, {"Host": HOST}
    token = register_and_login(prod, f"swarm-{uuid.uuid4().hex[:6]}@example.com", headers=headers)
    product = prod.request("GET", "/api/v1/products/?in_stock=true", headers=headers).json()["results"][0]
    added = prod.request("POST", "/api/v1/cart/add/", {"product_id": product["id"], "quantity": 2}, token, headers)
    assert added.status == 201, added.body
    order = prod.request("POST", "/api/v1/orders/create/", {"delivery_address": "1 Swarm Lane"}, token, headers)
    assert order.status == 201, order.body
    read = prod.request("GET", f"/api/v1/orders/{order.json()['id']}/", token=token, headers=headers).json()
    assert read["items"][0]["quantity"] == 2


def test_a_rolling_update_of_web_under_reads_loses_no_request(swarm):
    before = {c for _, c in web_containers(swarm)}
    with Reads(swarm) as reads:
        started = time.monotonic()
        swarm.docker("node1", "service", "update", "--force", "--detach=false", "shop_web", timeout=600)
        took = time.monotonic() - started
        time.sleep(3)
    figure(f"rolling update of web (2 tasks): {took:.0f} s, {len(reads.failed)} of {reads.sent} reads lost")
    after = {c for _, c in web_containers(swarm)}
    assert reads.sent > 50
    assert reads.failed == []
    assert not before & after  # every web task was replaced


def test_draining_a_node_that_runs_web_moves_it_without_a_failed_request(swarm):
    # node3 is the one node nothing is pinned to (node1 has the proxy, node2 the data).
    # Three replicas spread one per node, so one surely runs there.
    swarm.prod.inv("swarm.scale", "--replicas", "3")
    assert "node3" in {node for node, _ in web_containers(swarm)}
    with Reads(swarm) as reads:
        started = time.monotonic()
        swarm.docker("node1", "node", "update", "--availability", "drain", "node3")
        swarm.wait(
            lambda: (
                "node3" not in {n for n, _ in web_containers(swarm)}
                and "3/3" in swarm.docker("node1", "service", "ls", "--filter", "name=shop_web")
            ),
            "web to leave node3",
        )
        figure(f"drain node3: web moved and 3/3 again in {time.monotonic() - started:.0f} s, {len(reads.failed)} lost")
        time.sleep(3)
    swarm.docker("node1", "node", "update", "--availability", "active", "node3")
    swarm.prod.inv("swarm.scale", "--replicas", "2")
    assert reads.sent > 20
    assert reads.failed == []


def test_an_image_whose_health_check_fails_is_rolled_back_by_swarm(swarm):
    spec = "{{.Spec.TaskTemplate.ContainerSpec.Image}}"
    serving = swarm.docker("node1", "service", "inspect", "-f", spec, "shop_web").strip()
    broken = f"localhost:{swarm.push_port}/desideliver-django:e2e-broken"
    dockerfile = f"FROM localhost:{swarm.push_port}/desideliver-django:{TAG}\n"
    dockerfile += "HEALTHCHECK --interval=2s --timeout=2s --retries=1 CMD false\n"
    subprocess.run(["docker", "build", "-q", "-t", broken, "-"], input=dockerfile, text=True, check=True)
    run("docker", "push", "-q", broken)
    digest = run("docker", "inspect", "-f", "{{index .RepoDigests 0}}", broken).strip().split("@")[1]
    with Reads(swarm) as reads:
        update = ("service", "update", "--detach=false", "--image", f"registry:5000/desideliver-django@{digest}")
        swarm.docker("node1", *update, "shop_web", check=False, timeout=600)
        swarm.wait(
            lambda: "rollback_completed" in swarm.docker("node1", "service", "inspect", "-f", "{{json .UpdateStatus}}",
                                                         "shop_web"),
            "swarm's own rollback",
        )  # fmt: skip
    assert swarm.docker("node1", "service", "inspect", "-f", spec, "shop_web").strip() == serving
    assert reads.failed == []  # the broken tasks never took a request


def schema(lab: Lab) -> str:
    """catalog_product's columns and the applied migrations, read in the db task on the data node."""
    db = lab.docker("node2", "ps", "-q", "--filter", "label=com.docker.swarm.service.name=shop_db").strip()
    sql = (
        "SELECT string_agg(column_name, ',' ORDER BY column_name) FROM information_schema.columns "
        "WHERE table_name = 'catalog_product' UNION ALL "
        "SELECT string_agg(app || '.' || name, ',' ORDER BY id) FROM django_migrations"
    )
    return lab.docker("node2", "exec", db, "sh", "-c", f'psql -X -tA -U "$POSTGRES_USER" -d "$POSTGRES_DB" -c "{sql}"')


def test_a_failing_migration_stops_the_deploy_before_any_running_service_changes(swarm):
    spec = "{{.Spec.TaskTemplate.ContainerSpec.Image}}"
    serving = swarm.docker("node1", "service", "inspect", "-f", spec, "shop_web").strip()
    before = schema(swarm)
    with failing_migration(), Reads(swarm) as reads:
        started = time.monotonic()
        result = swarm.prod.inv("swarm.deploy", "--tag", "e2e-swarm-badmig", check=False, timeout=1200)
        figure(f"swarm.deploy with a failing migration: stopped after {time.monotonic() - started:.0f} s")
    message = result.stdout + result.stderr
    assert result.returncode != 0, message[-3000:]
    assert "safety backup before migrating" in message  # the stack ran: a pre-deploy backup came first
    assert "the job shop_migrate failed" in message
    assert "division by zero" in message
    assert "stopped before any running service changed" in message
    assert swarm.docker("node1", "service", "inspect", "-f", spec, "shop_web").strip() == serving
    assert schema(swarm) == before
    assert reads.failed == []


def signs_up(stack, email: str, password: str) -> None:
    body = {"email": email, "password": password, "first_name": "E", "last_name": "Two"}
    created = stack.request("POST", "/api/v1/auth/register/", body, headers=HTTPS)
    assert created.status == 201, created.body


def logs_in(stack, email: str, password: str) -> int:
    return stack.request("POST", "/api/v1/auth/login/", {"email": email, "password": password}, headers=HTTPS).status


def newest_dump(directory: Path) -> Path:
    """The newest regular backup there, its checksum checked."""
    dump = max(directory.glob("desideliver-prod-*Z.dump"), key=lambda p: p.stat().st_mtime)
    recorded = dump.with_name(dump.name + ".sha256").read_text().split()[0]
    assert hashlib.sha256(dump.read_bytes()).hexdigest() == recorded
    return dump


def test_a_swarm_backup_restores_into_a_single_host_stack_and_back(swarm, tmp_path_factory):
    password = "E2e-" + secrets.token_urlsafe(12)
    on_swarm, on_single = (f"{where}-{uuid.uuid4().hex[:6]}@example.com" for where in ("swarm", "single"))
    signs_up(swarm.prod, on_swarm, password)
    assert "on the data node in its backups directory, and here" in swarm.prod.inv("swarm.backup").stdout
    from_swarm = newest_dump(swarm.prod.backups)
    single = make_stack("prod", tmp_path_factory.mktemp("single"), prod_settings())
    with running(single, "prod.deploy", "--tag", TAG):
        single.inv("db.restore", str(from_swarm), "--env", "prod", "--yes")
        assert logs_in(single, on_swarm, password) == 200  # the swarm's user, on the single host
        signs_up(single, on_single, password)
        single.inv("db.backup", "--env", "prod")
        from_single = newest_dump(single.backups)
    started = time.monotonic()
    restored = swarm.prod.inv("swarm.restore", str(from_single), "--yes").stdout
    figure(f"swarm.restore of a single-host dump: {time.monotonic() - started:.0f} s")
    assert "✓ restored" in restored
    assert "pre-restore" in " ".join(p.name for p in swarm.prod.backups.glob("*.dump"))
    assert logs_in(swarm.prod, on_single, password) == 200  # the single host's user, on the swarm
    assert logs_in(swarm.prod, on_swarm, password) == 200


def test_scale_and_rollback_through_the_swarm_tasks(swarm):
    swarm.prod.inv("swarm.scale", "--replicas", "3")
    assert "3/3" in swarm.docker("node1", "service", "ls", "--filter", "name=shop_web")
    swarm.prod.inv("swarm.rollback")  # back to the definition before the scale
    swarm.wait(lambda: "2/2" in swarm.docker("node1", "service", "ls", "--filter", "name=shop_web"), "2 again")
    assert "shop_web." in swarm.prod.inv("swarm.ps").stdout


def test_no_service_or_task_shows_a_secret(swarm):
    secrets = [
        swarm.prod.values[name] for name in ("SECRET_KEY", "POSTGRES_PASSWORD", "APP_DB_PASSWORD", "REDIS_PASSWORD")
    ]
    services = swarm.docker("node1", "service", "ls", "-q").split()
    inspected = [swarm.docker("node1", "service", "inspect", *services)]
    for node in ("node1", "node2", "node3"):
        containers = swarm.docker(node, "ps", "-aq", "--filter", "label=com.docker.stack.namespace=shop").split()
        if containers:
            inspected.append(swarm.docker(node, "inspect", *containers))
    assert len(inspected) >= 3
    for text in inspected:
        assert not [secret for secret in secrets if secret in text]


def test_a_killed_node_is_replaced_and_no_data_is_lost(swarm):
    prod, headers = swarm.prod, {"Host": HOST}
    token = register_and_login(prod, f"kill-{uuid.uuid4().hex[:6]}@example.com", headers=headers)
    product = prod.request("GET", "/api/v1/products/?in_stock=true", headers=headers).json()["results"][0]
    prod.request("POST", "/api/v1/cart/add/", {"product_id": product["id"]}, token, headers)
    order = prod.request("POST", "/api/v1/orders/create/", {}, token, headers).json()["id"]
    killed = time.monotonic()
    swarm.compose("kill", "node3")  # its engine and every task on it, at once
    swarm.wait(
        lambda: "Down" in swarm.docker("node1", "node", "ls", "--filter", "name=node3", "--format", "{{.Status}}"),
        "the swarm to see node3 down",
    )
    swarm.wait(
        lambda: (
            len({n for n, _ in web_containers(swarm) if n != "node3"}) >= 1
            and "2/2" in swarm.docker("node1", "service", "ls", "--filter", "name=shop_web")
            and get(swarm, "/api/v1/health/ready/") == 200
        ),
        "web back at 2 replicas on the nodes left",
    )
    figure(f"node3 killed: web at 2/2 on the nodes left and ready after {time.monotonic() - killed:.0f} s")
    read = prod.request("GET", f"/api/v1/orders/{order}/", token=token, headers=headers)
    assert read.status == 200
    assert read.json()["id"] == order
