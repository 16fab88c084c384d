"""End-to-end fixtures: real stacks on a real Docker engine, via the real `inv`.

Every stack gets its own compose project name, env file, backup directory and
free host ports, so the suite never touches a developer's own stack; each is
removed with its volumes afterwards. With CI set, a missing engine fails the
run instead of skipping it.
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
import signal
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.request
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.helpers import ROOT, free_port, inv

EXAMPLES = {"dev": ROOT / ".env.example", "prod": ROOT / ".env.prod.example"}
DOCUMENTED = {
    line.lstrip("# ").split("=", 1)[0]
    for example in EXAMPLES.values()
    for line in example.read_text().splitlines()
    if "=" in line and line.lstrip("# ").split("=", 1)[0].isupper()
}


def docker_usable() -> bool:
    try:
        ok = subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=20).returncode == 0
        return ok and subprocess.run(["docker", "info"], capture_output=True, timeout=20).returncode == 0
    except (FileNotFoundError, subprocess.TimeoutExpired):
        return False


@pytest.fixture(scope="session", autouse=True)
def _engine():
    if not docker_usable():
        if os.environ.get("CI"):
            pytest.fail("CI needs a Docker engine for the end-to-end suite (.ci/run starts one)")
        pytest.skip("no usable Docker engine with the compose plugin")


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """Report redirects as responses: the tests assert on them."""

    def redirect_request(self, *args, **kwargs):
        return None


OPENER = urllib.request.build_opener(_NoRedirects)


def opener(context: ssl.SSLContext) -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(_NoRedirects, urllib.request.HTTPSHandler(context=context))


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body)


@dataclass
class Stack:
    env_name: str
    name: str  # what COMPOSE_PROJECT_NAME says: ./inv names the project `<name>-<env_name>`
    env_file: Path
    values: dict[str, str]
    backups: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    started: subprocess.CompletedProcess | None = None  # what the command that started it printed
    base_override: str = ""  # where its proxy is when not on this host (the Swarm lab's edge node)

    @property
    def project(self) -> str:
        return f"{self.name}-{self.env_name}"

    @property
    def environ(self) -> dict[str, str]:
        # Hermetic: nothing the stack's env file sets may come from this process.
        env = {k: v for k, v in os.environ.items() if k not in DOCUMENTED}
        return {
            **env,
            "COMPOSE_PROJECT_NAME": self.name,
            "DESIDELIVER_ENV_FILE": str(self.env_file),
            "BACKUP_DIR": str(self.backups),
            # Where ./inv mounts secrets and certificates from (stack.compose_environment), so a test's own
            # `compose run` of a service that mounts them works as the tasks' do.
            **({"SECRETS_PATH": self.values["SECRETS_DIR"]} if "SECRETS_DIR" in self.values else {}),
            **({"TLS_PATH": self.values["TLS_DIR"]} if "TLS_DIR" in self.values else {}),
            **self.extra_env,
        }

    def inv(self, *args: str, check: bool = True, timeout: int = 900) -> subprocess.CompletedProcess:
        return inv(*args, env=self.environ, check=check, timeout=timeout)

    def compose_command(self, *args: str) -> list[str]:
        """`docker compose args` for this stack, run with `environ` (by compose(); by a test, in the background)."""
        return [
            "docker",
            "compose",
            "--project-name",
            self.project,
            "--env-file",
            str(self.env_file),
            "-f",
            str(ROOT / "compose" / self.env_name / "compose.yaml"),
            *args,
        ]

    def compose(self, *args: str, check: bool = True, timeout: int = 600) -> subprocess.CompletedProcess:
        command = self.compose_command(*args)
        result = subprocess.run(command, env=self.environ, capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"{' '.join(args)} exited {result.returncode}: {result.stderr[-2000:]}")
        return result

    def container(self, service: str) -> str:
        return self.compose("ps", "-q", service).stdout.strip()

    def inspect(self, service: str) -> dict:
        return self.inspect_container(self.container(service))

    @staticmethod
    def inspect_container(container: str) -> dict:
        out = subprocess.run(["docker", "inspect", container], capture_output=True, text=True, check=True).stdout
        return json.loads(out)[0]

    def logs(self, service: str) -> str:
        result = self.compose("logs", "--no-color", service)
        return result.stdout + result.stderr

    @property
    def base_url(self) -> str:
        """Where a client reaches the stack: the dev server, or the prod proxy's TLS port."""
        if self.base_override:
            return self.base_override
        if self.env_name == "dev":
            return f"http://127.0.0.1:{self.values['WEB_PORT']}"
        return f"https://127.0.0.1:{self.values['HTTPS_PORT']}"

    @property
    def certificate(self) -> Path:
        return Path(self.values["TLS_DIR"]) / "fullchain.pem"

    def tls_context(self) -> ssl.SSLContext:
        """Trusts the stack's own certificate only; the name is checked by the curl --resolve test."""
        context = ssl.create_default_context(cafile=str(self.certificate))
        context.check_hostname = False
        return context

    def request(
        self,
        method: str,
        path: str,
        body: dict | None = None,
        token: str = "",
        headers: dict[str, str] | None = None,
        plain_http: bool = False,
        base: str = "",
    ) -> Response:
        """`method path` on the stack (its proxy's plain http port with plain_http, or another `base` URL)."""
        all_headers = {"Content-Type": "application/json", **(headers or {})}
        if token:
            all_headers["Authorization"] = f"Bearer {token}"
        data = json.dumps(body).encode() if body is not None else None
        base = base or (f"http://127.0.0.1:{self.values['HTTP_PORT']}" if plain_http else self.base_url)
        request = urllib.request.Request(base + path, data=data, method=method, headers=all_headers)  # noqa: S310
        client = opener(self.tls_context()) if base.startswith("https") else OPENER
        try:
            with client.open(request, timeout=30) as response:
                return Response(response.status, dict(response.headers), response.read())
        except urllib.error.HTTPError as exc:
            return Response(exc.code, dict(exc.headers), exc.read())

    def body_or_nothing(self, path: str) -> bytes:
        """The body of GET `path`, or b"" while the server restarts or reloads."""
        try:
            return self.request("GET", path).body
        except (urllib.error.URLError, ConnectionError, http.client.HTTPException):
            return b""

    def wait_for(self, predicate, what: str, timeout: float = 60, interval: float = 1):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(interval)
        raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")

    def down(self) -> None:
        self.compose("--profile", "*", "down", "--volumes", "--remove-orphans", "--timeout", "5", check=False)
        (ROOT / "var" / "deploy" / f"{self.project}.json").unlink(missing_ok=True)


def newest_migration(app: str) -> str:
    """The name of `app`'s newest migration in this checkout: what a dump of a migrated database records."""
    return max(m.stem for m in (ROOT / "src" / app / "migrations").glob("0*.py"))


def make_stack(env_name: str, tmp: Path, overrides: dict[str, str], extra_env: dict[str, str] | None = None) -> Stack:
    values = {
        # prod: the stack's own certificate directory (prod.deploy makes a self-signed pair in it).
        **({"TLS_DIR": str(tmp / "certs"), "SECRETS_DIR": str(tmp / "secrets")} if env_name == "prod" else {}),
        "SECRET_KEY": secrets.token_urlsafe(50),
        "POSTGRES_PASSWORD": "e2e-db-" + secrets.token_hex(8),
        "REDIS_PASSWORD": "e2e-redis-" + secrets.token_hex(8),
        "APP_DB_PASSWORD": "e2e-app-" + secrets.token_hex(8),
        **overrides,
    }
    lines = []
    for line in EXAMPLES[env_name].read_text().splitlines():
        key = line.split("=", 1)[0]
        lines.append(f"{key}={values[key]}" if key in values and not line.startswith("#") else line)
    lines += [f"{k}={v}" for k, v in values.items() if not any(line.startswith(f"{k}=") for line in lines)]
    env_file = tmp / f"{env_name}.env"
    env_file.write_text("\n".join(lines) + "\n")
    backups = tmp / "backups"
    backups.mkdir()
    return Stack(
        env_name,
        f"e2e-{uuid.uuid4().hex[:8]}",
        env_file,
        {**dict(line.split("=", 1) for line in lines if "=" in line and not line.startswith("#")), **values},
        backups,
        extra_env or {},
    )


HOST = "shop.example.com"
# What a client of the shop sends (nginx terminates TLS).
HTTPS = {"Host": HOST}


def dev_settings(**extra: str) -> dict[str, str]:
    """Env-file values for a dev stack on free host ports."""
    ports = ("WEB_PORT", "POSTGRES_HOST_PORT", "REDIS_HOST_PORT", "FLOWER_PORT")
    return {**{name: str(free_port()) for name in ports}, **extra}


def prod_settings(**extra: str) -> dict[str, str]:
    """Env-file values for a prod stack on free ports, serving HOST (make_stack adds its certificate directory)."""
    ports = {"HTTP_PORT": str(free_port()), "HTTPS_PORT": str(free_port())}
    return {**ports, "ALLOWED_HOSTS": HOST, "EMAIL_URL": "consolemail://", **extra}


class BackgroundLoad:
    """A bounded loop in a thread while a `with` block runs: `step()` every `interval` s, `seconds` at most."""

    seconds: float = 150
    interval: float = 0.05

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def step(self) -> None:
        raise NotImplementedError

    def run(self) -> None:
        deadline = time.monotonic() + self.seconds
        while not self.stop.is_set() and time.monotonic() < deadline:
            self.step()
            time.sleep(self.interval)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join(timeout=30)


class Load(BackgroundLoad):
    """A bounded loop through the proxy, on loopback, until stopped (150 s at most): reads and writes in turn.

    The writes add to a cart and remove from it: a POST that reaches a container
    is never retried by nginx, so a switch that drops a connection shows up here
    as a failed write.
    """

    interval = 0.02
    # read, add (a POST), read, remove: the cart never outgrows the stock.
    CYCLE = ("read", "add", "read", "remove")

    def __init__(self, prod):
        super().__init__()
        self.n = 0
        self.base, self.reads, self.writes, self.failed, self.errors = prod.base_url, 0, 0, 0, []
        self.client = opener(prod.tls_context())
        self.token = register_and_login(prod, f"load-{uuid.uuid4().hex[:8]}@example.com", headers=HTTPS)
        self.item = 0
        self.product = prod.request("GET", "/api/v1/products/?in_stock=true", headers=HTTPS).json()["results"][0]["id"]

    def send(self, kind: str) -> None:
        auth = {**HTTPS, "Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}
        if kind == "add":
            body = json.dumps({"product_id": self.product, "quantity": 1}).encode()
            request = urllib.request.Request(self.base + "/api/v1/cart/add/", body, auth, method="POST")  # noqa: S310
        elif kind == "remove":
            url = f"{self.base}/api/v1/cart/remove/{self.item}/"
            request = urllib.request.Request(url, headers=auth, method="DELETE")  # noqa: S310 - loopback
        else:
            request = urllib.request.Request(self.base + "/api/v1/products/", headers=HTTPS)  # noqa: S310 - loopback
        try:
            with self.client.open(request, timeout=10) as response:
                ok, detail = response.status in (200, 201, 204), ""
                if kind == "add":
                    items = json.loads(response.read())["items"]
                    self.item = next(i["id"] for i in items if i["product"]["id"] == self.product)
        except urllib.error.HTTPError as exc:
            ok, detail = False, f"{exc.code} {exc.read()[:200]!r}"
        except (urllib.error.URLError, OSError) as exc:
            ok, detail = False, str(exc)
        if ok:
            self.writes += kind != "read"
            self.reads += kind == "read"
        else:
            self.failed += 1
            self.errors.append(f"{kind}: {detail}")

    def step(self) -> None:
        kind = self.CYCLE[self.n % len(self.CYCLE)]
        if kind != "remove" or self.item:
            self.send(kind)
        self.n += 1


@contextmanager
def running(stack: Stack, *inv_args: str):
    """Bring `stack` up with `inv inv_args`; always remove it, volumes included."""
    try:
        stack.started = stack.inv(*inv_args)
        yield stack
    finally:
        stack.down()


def kill_and_await_restart(stack: Stack, service: str) -> float:
    """SIGKILL `service`'s main process, as a crash would, and wait for the restart policy to bring it back
    healthy; how long that took. Not `docker kill`: the engine takes that for a stop and restarts nothing."""
    before = stack.inspect(service)
    pid = before["State"]["Pid"]
    if before["HostConfig"].get("Init"):  # docker-init; the entrypoint execs the main process as its child
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        assert children, f"the {service} container's init has no child process"
        pid = int(children[0])
    killed = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    restarted = f"the {service} container to restart"
    stack.wait_for(lambda: stack.inspect(service)["RestartCount"] > before["RestartCount"], restarted)
    healthy = f"{service} to be healthy again"
    stack.wait_for(lambda: stack.inspect(service)["State"]["Health"]["Status"] == "healthy", healthy, timeout=90)
    return time.monotonic() - killed


def register_and_login(stack: Stack, email: str, headers: dict[str, str] | None = None) -> str:
    password = "E2e-" + secrets.token_urlsafe(12)
    created = stack.request(
        "POST",
        "/api/v1/auth/register/",
        {"email": email, "password": password, "first_name": "E", "last_name": "Two"},
        headers=headers,
    )
    assert created.status == 201, created.body
    login = stack.request("POST", "/api/v1/auth/login/", {"email": email, "password": password}, headers=headers)
    assert login.status == 200, login.body
    return login.json()["access"]


FIGURES: list[str] = []


def figure(line: str) -> None:
    """A measured figure (a duration, requests lost), printed at the end of the run: reported, never asserted."""
    FIGURES.append(line)


# Wall time per module, from its first test's start to its last test's end (module stacks included):
# what each module costs CI, which has a time budget.
MODULE_SPANS: dict[str, list[float]] = {}


def pytest_runtest_logstart(nodeid: str, location) -> None:
    if nodeid.startswith("tests/e2e/"):
        MODULE_SPANS.setdefault(nodeid.split("::")[0], [time.monotonic(), 0.0])


def pytest_runtest_logfinish(nodeid: str, location) -> None:
    if nodeid.startswith("tests/e2e/"):
        MODULE_SPANS[nodeid.split("::")[0]][1] = time.monotonic()


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    if FIGURES:
        terminalreporter.section("measured figures (end to end)")
        for line in FIGURES:
            terminalreporter.write_line(line)
    if MODULE_SPANS:
        terminalreporter.section("time per module (end to end)")
        for module, (start, end) in MODULE_SPANS.items():
            terminalreporter.write_line(f"{max(end - start, 0):7.0f} s  {module}")


LOGGED_ON_FAILURE = ("web", "db", "pitr")  # what a CI log needs to tell why a request failed


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failed test's report carries the tail of its stacks' logs: CI keeps nothing else once they are removed."""
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" or not report.failed:
        return
    for name, value in getattr(item, "funcargs", {}).items():
        if not isinstance(value, Stack):
            continue
        for service in LOGGED_ON_FAILURE:
            try:
                tail = "\n".join(value.logs(service).splitlines()[-40:])
            except (AssertionError, subprocess.SubprocessError, OSError) as error:
                tail = f"(no log: {error})"
            report.sections.append((f"{name}: {service} log, last 40 lines", tail))


@contextmanager
def extra_migration(app: str, name: str, after: str, *operations: str):
    """A migration of `app` written into the checkout (a deploy builds it into the image), removed after."""
    migration = ROOT / "src" / app / "migrations" / f"{name}_{uuid.uuid4().hex[:6]}.py"
    migration.write_text(
        "from django.db import migrations, models\n\n\n"
        "class Migration(migrations.Migration):\n"
        f"    dependencies = [({app!r}, {after!r})]\n"
        "    operations = [\n" + "".join(f"        {operation},\n" for operation in operations) + "    ]\n"
    )
    try:
        yield migration
    finally:
        migration.unlink()


def failing_migration():
    """A catalog migration that adds a column, doubles every price, then fails: all of it must undo."""
    return extra_migration(
        "catalog",
        "0099_e2e_broken",
        newest_migration("catalog"),
        "migrations.AddField('product', 'e2e_flag', models.BooleanField(default=False))",
        "migrations.RunSQL('UPDATE catalog_product SET price = price * 2')",
        "migrations.RunSQL('SELECT 1 / 0')",
    )
