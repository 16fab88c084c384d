"""The production stack, end to end: built from the prod images, hardened, self-healing."""

import contextlib
import csv
import html.parser
import io
import json
import re
import secrets
import socket
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.postgres.base import BACKOFF_SECONDS

from .conftest import (
    HOST,
    HTTPS,
    ROOT,
    BackgroundLoad,
    Response,
    dev_settings,
    figure,
    kill_and_await_restart,
    make_stack,
    newest_migration,
    opener,
    prod_settings,
    register_and_login,
    running,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def prod(tmp_path_factory):
    extra = {
        "DJANGO_DEBUG": "true",  # must be ignored by prod
        "CSRF_TRUSTED_ORIGINS": f"https://{HOST}",
        "BACKUP_INTERVAL_SECONDS": "5",
        # One login a second after a burst of 5: the limit tests see it bite, and
        # the tests after them (one client address for all) log in again in seconds.
        "LOGIN_RATE": "60r/m",
        "API_DOCS": "public",
        "BACKUP_KEEP_LAST": "3",
        "BACKUP_KEEP_DAILY": "0",
        "BACKUP_KEEP_WEEKLY": "0",
        # Low enough for a test to reach; every other test here has far fewer requests in flight.
        "CONN_PER_ADDRESS": "64",
    }
    stack = make_stack("prod", tmp_path_factory.mktemp("prod"), prod_settings(**extra))
    with running(stack, "prod.deploy"):
        yield stack


def test_requests_go_through_nginx_to_gunicorn(prod):
    marker = uuid.uuid4().hex
    response = prod.request("GET", f"/api/v1/health/ready/?probe={marker}", headers=HTTPS)
    assert response.status == 200
    assert response.json()["checks"] == {"database": "ok", "cache": "ok", "migrations": "ok"}
    assert response.headers["Server"] == "nginx"
    # One access log, the proxy's, with the request's and Gunicorn's times (buffered: flushed each second).
    access_line = prod.wait_for(
        lambda: next((line for line in prod.logs("proxy").splitlines() if marker in line), ""), "the access log line"
    )
    assert re.search(r'"GET /api/v1/health/ready/\?probe=\w+ HTTP/1.1" 200 \d+ [\d.]+ [\d.]+ ', access_line)
    assert marker not in prod.logs("web")
    top = prod.compose("top", "web").stdout
    assert "gunicorn" in top
    assert "runserver" not in top


def test_plain_http_is_redirected_to_https_and_a_forged_proto_changes_nothing(prod):
    https = f"https://{HOST}:{prod.values['HTTPS_PORT']}"
    for headers in ({"Host": HOST}, {"Host": HOST, "X-Forwarded-Proto": "https"}):
        response = prod.request("GET", "/api/v1/products/", headers=headers, plain_http=True)
        assert response.status == 301
        assert response.headers["Location"] == f"{https}/api/v1/products/"
        assert response.headers["Server"] == "nginx"  # answered by nginx: Django never saw the forged header
    # nginx's own health check stays on plain http, for probes.
    assert prod.request("GET", "/nginx-health", plain_http=True).status == 200


def curl(prod, path: str, *options: str) -> subprocess.CompletedProcess:
    """curl as an outside client: the shop's name resolved to loopback, the stack's certificate trusted."""
    port = prod.values["HTTPS_PORT"]
    return subprocess.run(
        ["curl", "-sS", "--http2", "--cacert", str(prod.certificate), "--resolve", f"{HOST}:{port}:127.0.0.1",
         "-o", "/dev/null", "-w", "%{http_code} %{http_version}", *options, f"https://{HOST}:{port}{path}"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip


@pytest.mark.parametrize("path", ["/api/v1/", "/api/v1/docs/", "/admin/login/"])
def test_the_api_docs_and_admin_answer_over_tls_with_http2_and_the_stacks_certificate(prod, path):
    result = curl(prod, path)
    assert result.returncode == 0, result.stderr  # the certificate verified for the shop's name
    assert result.stdout == "200 2"


def test_hsts_is_sent_once(prod):
    response = prod.request("GET", "/api/v1/products/", headers=HTTPS)
    assert response.status == 200
    headers = subprocess.run(
        ["curl", "-sS", "-D", "-", "-o", "/dev/null", "--cacert", str(prod.certificate), "--resolve",
         f"{HOST}:{prod.values['HTTPS_PORT']}:127.0.0.1", f"https://{HOST}:{prod.values['HTTPS_PORT']}/api/v1/"],
        capture_output=True, text=True, timeout=30,
    ).stdout.lower()  # fmt: skip
    assert headers.count("strict-transport-security:") == 1


def test_forged_forwarded_for_does_not_escape_the_login_limits(prod):
    email = f"victim-{uuid.uuid4().hex[:6]}@example.com"
    register_and_login(prod, email, headers=HTTPS)
    statuses = [
        prod.request(
            "POST",
            "/api/v1/auth/login/",
            {"email": email, "password": "wrong"},
            headers={**HTTPS, "X-Forwarded-For": f"10.{n}.0.1"},
        ).status
        for n in range(40)
    ]
    assert statuses.count(429) >= 20, statuses
    assert set(statuses) <= {401, 429}
    prod.wait_for(
        lambda: (
            prod.request("POST", "/api/v1/auth/login/", {"email": email, "password": "x"}, headers=HTTPS).status == 401
        ),
        "the limit to let this address try again",
        timeout=30,
    )


def test_the_admin_login_is_rate_limited_and_can_be_closed_to_other_addresses(prod):
    statuses = [prod.request("POST", "/admin/login/", {"username": "x"}, headers=HTTPS).status for _ in range(25)]
    assert statuses.count(429) >= 10, statuses
    allow = "/etc/nginx/runtime/admin-allow.geo"
    original = prod.compose("exec", "-T", "proxy", "cat", allow).stdout
    prod.compose("exec", "-T", "proxy", "sh", "-c", f"echo '203.0.113.9 1;' > {allow} && nginx -s reload")
    try:
        prod.wait_for(lambda: prod.request("GET", "/admin/login/", headers=HTTPS).status == 403, "the allow-list")
        assert prod.request("GET", "/api/v1/", headers=HTTPS).status == 200
    finally:
        prod.compose("exec", "-T", "proxy", "sh", "-c", f"printf '{original}' > {allow} && nginx -s reload")
    prod.wait_for(lambda: prod.request("GET", "/admin/login/", headers=HTTPS).status == 200, "the admin back")


def test_a_bad_proxy_setting_stops_the_proxy_naming_it(prod):
    # A proxy that wrongly starts serves until killed: the timeout is the failure.
    result = prod.compose(
        "run", "--rm", "--no-deps", "-T", "-e", "ADMIN_ALLOW=everyone", "proxy", check=False, timeout=60
    )
    assert result.returncode == 78
    assert "ADMIN_ALLOW has 'everyone', which is not an address or CIDR range" in result.stderr


def test_debug_is_off_and_errors_are_json(prod):
    response = prod.request("GET", "/api/v1/definitely-missing/", headers=HTTPS)
    assert response.status == 404
    assert response.json() == {"detail": "Not found."}
    debug = prod.compose(
        "exec",
        "-T",
        "web",
        "python",
        "-c",
        "import django; django.setup(); from django.conf import settings; print(settings.DEBUG)",
    )
    assert debug.stdout.strip() == "False"


def test_static_files_are_served_with_far_future_cache_headers(prod):
    page = prod.request("GET", "/api/v1/docs/", headers=HTTPS)
    assert page.status == 200
    asset = re.search(
        r"/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui\.[0-9a-f]{12}\.css", page.body.decode()
    ).group(0)
    response = prod.request("GET", asset, headers={**HTTPS, "Accept-Encoding": "gzip"})
    assert response.status == 200
    assert "max-age=315360000" in response.headers["Cache-Control"]
    assert "immutable" in response.headers["Cache-Control"]


def test_api_works_through_the_proxy(prod):
    token = register_and_login(prod, f"prod-{uuid.uuid4().hex[:6]}@example.com", headers=HTTPS)
    me = prod.request("GET", "/api/v1/auth/me/", token=token, headers=HTTPS)
    assert me.status == 200


def django(prod, code: str) -> str:
    """Run `code` in web's Django shell; the last line it printed ("" when none)."""
    out = prod.compose("exec", "-T", "web", "python", "manage.py", "shell", "--command", code).stdout
    return (out.strip().splitlines() or [""])[-1]


def test_demo_data_loads_into_a_staging_stack_and_links_keep_the_port(prod):
    refused = prod.inv("prod.demo-data", check=False)  # no terminal, no --yes
    assert refused.returncode != 0
    assert "refusing without confirmation" in refused.stderr
    prod.inv("prod.demo-data", "--yes")
    port = prod.values["HTTPS_PORT"]
    listing = prod.request("GET", "/api/v1/products/?page_size=5", headers={**HTTPS, "Host": f"{HOST}:{port}"})
    assert listing.json()["count"] >= 14
    assert listing.json()["next"] == f"https://{HOST}:{port}/api/v1/products/?page=2&page_size=5"


def new_product(prod, name: str, price: str, stock: int = 5) -> int:
    """A product of the test's own (`name` unique), in the e2e category; its id."""
    slug = name.lower().replace(" ", "-")
    return int(
        django(
            prod,
            "from catalog.models import Category, Product; "
            "c, _ = Category.objects.get_or_create(slug='e2e', defaults={'name': 'E2E'}); "
            f"p = Product.objects.create(category=c, name='{name}', slug='{slug}', price='{price}', stock={stock}); "
            "print(p.pk)",
        )
    )


def test_staff_queue_an_export_through_the_proxy_and_download_it_whole_from_the_media_volume(prod):
    """The worker writes the export to the `media` volume (the root is read-only), web serves it to staff."""
    for service in ("web", "worker"):
        mounts = {mount["Destination"]: mount for mount in prod.inspect(service)["Mounts"]}
        assert mounts["/app/var/media"]["Name"] == f"{prod.project}_media"
    # The new volume took the owner of the image's directory: the app user's.
    owner_and_mode = prod.compose("exec", "-T", "worker", "stat", "-c", "%u %a", "/app/var/media").stdout.split()
    assert owner_and_mode == ["10001", "750"]

    tag = uuid.uuid4().hex[:6]
    email = f"export-{tag}@example.com"
    token = register_and_login(prod, email, headers=HTTPS)
    product_id = new_product(prod, f"Export {tag}", "12.50")
    order = prod.request(
        "POST", "/api/v1/orders/create/", {"items": [{"product_id": product_id, "quantity": 2}]}, token, HTTPS
    )
    assert order.status == 201, order.body
    assert prod.request("POST", "/api/v1/orders/export/", {}, token, HTTPS).status == 403  # not staff yet
    # As the admin does, through save(): a save drops the user's cached copy at once (accounts/user_cache.py;
    # a queryset update() would show within USER_CACHE_SECONDS).
    grant = f"u = User.objects.get(email='{email}'); u.is_staff = True; u.save()"
    django(prod, f"from accounts.models import User; {grant}")

    queued = prod.request("POST", "/api/v1/orders/export/", {}, token, HTTPS)
    assert queued.status == 202, queued.body
    name = queued.json()["name"]
    path = f"/api/v1/orders/export/{name}/"
    assert queued.json()["url"] == f"https://{HOST}{path}"

    def written():
        response = prod.request("GET", path, token=token, headers=HTTPS)
        assert response.status in (200, 404), response.body  # 404 until the worker has written it
        return response if response.status == 200 else None

    export = prod.wait_for(written, "the worker to write the export", timeout=60)
    assert export.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert export.headers["Content-Disposition"] == f'attachment; filename="{name}"'
    rows = list(csv.reader(io.StringIO(export.body.decode())))
    assert rows[0][:3] == ["order_id", "created_at", "customer_email"]
    mine = [(row[2], row[4], row[6]) for row in rows if row[0] == str(order.json()["id"])]
    assert mine == [(email, f"Export {tag}", "2")]
    # Complete: every order there is, byte for byte what the synchronous export gives now.
    assert export.body == prod.request("GET", "/api/v1/orders/export/", token=token, headers=HTTPS).body


class Browser:
    """A browser on the admin through the proxy over TLS, at the site's name and port: it keeps its cookies and
    posts a form with the CSRF cookie, the site's Origin and the page it came from, as Django's CSRF check wants."""

    def __init__(self, prod) -> None:
        self.prod = prod
        self.site = f"https://{HOST}:{prod.values['HTTPS_PORT']}"
        self.cookies: dict[str, str] = {}

    def open(self, path: str, form: dict[str, str] | None = None) -> Response:
        """GET `path`, or POST `form` to it; a POST the proxy's login limit turned away (429) is sent again."""
        if form is None:
            return self.send(path, None)
        limited = f"the login limit to let POST {path} through"
        return self.prod.wait_for(lambda: (answer := self.send(path, form)).status != 429 and answer, limited, 30)

    def send(self, path: str, form: dict[str, str] | None) -> Response:
        headers = {**HTTPS, "Host": self.site.removeprefix("https://")}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        if form is not None:
            headers |= {
                "Origin": self.site,
                "Referer": self.site + path,
                "Content-Type": "application/x-www-form-urlencoded",
            }
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        request = urllib.request.Request(f"{self.prod.base_url}{path}", data=data, headers=headers)  # noqa: S310
        try:
            with opener(self.prod.tls_context()).open(request, timeout=30) as response:
                status, message, body = response.status, response.headers, response.read()
        except urllib.error.HTTPError as error:  # redirects too: the opener follows none
            status, message, body = error.code, error.headers, error.read()
        for cookie in message.get_all("Set-Cookie") or []:
            name, _, value = cookie.split(";", 1)[0].partition("=")
            self.cookies[name.strip()] = value
        return Response(status, dict(message), body)


class FormFields(html.parser.HTMLParser):
    """What a browser sends with the form `form_id` as the page fills it in: one value per name (these forms'
    selects choose one); no buttons, so Django takes the default action (save, log in)."""

    def __init__(self, form_id: str) -> None:
        super().__init__()
        self.form_id, self.inside = form_id, False
        self.fields: dict[str, str] = {}
        self.select: str | None = None
        self.options: list[tuple[str, bool]] = []
        self.textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "form":
            self.inside = a.get("id") == self.form_id
        elif not self.inside:
            return
        elif tag == "input" and a.get("name"):
            kind = a.get("type") or "text"
            if kind in ("checkbox", "radio"):
                if "checked" in a:
                    self.fields[a["name"]] = a.get("value") or "on"
            elif kind not in ("submit", "button", "image", "reset", "file"):
                self.fields[a["name"]] = a.get("value") or ""
        elif tag == "select":
            self.select, self.options = a.get("name"), []
        elif tag == "option" and self.select:
            self.options.append((a.get("value") or "", "selected" in a))
        elif tag == "textarea":
            self.textarea = a.get("name")
            self.fields[self.textarea] = ""

    def handle_data(self, data: str) -> None:
        if self.textarea:
            self.fields[self.textarea] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.inside = False
        elif tag == "select" and self.select:
            chosen = [value for value, selected in self.options if selected] or [self.options[0][0]]
            self.fields[self.select], self.select = chosen[0], None
        elif tag == "textarea" and self.textarea:
            # A browser drops the newline Django writes right after <textarea>.
            self.fields[self.textarea] = self.fields[self.textarea].removeprefix("\n")
            self.textarea = None


def form_fields(page: Response, form_id: str) -> dict[str, str]:
    parser = FormFields(form_id)
    parser.feed(page.body.decode())
    assert parser.fields, f"no form {form_id!r} in the page: {page.body[:300]!r}"
    return parser.fields


def test_the_admin_login_through_the_proxy_passes_the_csrf_check_on_any_port(prod):
    browser = Browser(prod)
    page = browser.open("/admin/login/")
    assert page.status == 200
    wrong = {"username": "nobody@example.com", "password": "wrong", "next": "/admin/"}
    answer = browser.open("/admin/login/", form_fields(page, "login-form") | wrong)
    assert answer.status == 200, answer.body[:400]  # the form again, with the wrong-password message: not a CSRF 403
    assert b"CSRF" not in answer.body


def test_staff_change_a_price_in_the_admin_through_the_proxy_and_the_catalogue_shows_it_within_two_seconds(prod):
    tag = uuid.uuid4().hex[:6]
    product_id = new_product(prod, f"Admin {tag}", "9.99")
    email, password = f"staff-{tag}@example.com", "E2e-" + secrets.token_urlsafe(12)
    # Staff with the rights to change products, and no more: not a superuser.
    django(
        prod,
        "from django.contrib.auth.models import Permission; from accounts.models import User; "
        f"u = User.objects.create_user('{email}', '{password}', is_staff=True); "
        "u.user_permissions.set(Permission.objects.filter(codename__in=['view_product', 'change_product']))",
    )
    detail = f"/api/v1/products/{product_id}/"
    assert prod.request("GET", detail, headers=HTTPS).json()["price"] == "9.99"  # the proxy holds it now

    browser = Browser(prod)
    login = {"username": email, "password": password, "next": "/admin/"}
    signed_in = browser.open("/admin/login/", form_fields(browser.open("/admin/login/"), "login-form") | login)
    assert (signed_in.status, signed_in.headers.get("Location")) == (302, "/admin/"), signed_in.body[:400]
    change = f"/admin/catalog/product/{product_id}/change/"
    page = browser.open(change)
    assert page.status == 200, page.body[:400]
    form = form_fields(page, "product_form")
    assert (form["name"], form["price"], form["is_active"]) == (f"Admin {tag}", "9.99", "on")
    saved = browser.open(change, form | {"price": "10.49"})
    saved_at = time.time()
    # To the change list: a form with errors would come back (200) instead.
    assert (saved.status, saved.headers.get("Location")) == (302, "/admin/catalog/product/"), saved.body[:600]
    price_shown_within_two_seconds(prod, detail, "10.49", saved_at)


@pytest.mark.parametrize("service", ["web", "worker", "beat"])
def test_app_containers_run_as_non_root_on_a_read_only_root(prod, service):
    assert prod.compose("exec", "-T", service, "id", "-u").stdout.strip() == "10001"
    config = prod.inspect(service)["HostConfig"]
    assert config["ReadonlyRootfs"] is True
    assert "no-new-privileges:true" in config["SecurityOpt"]
    assert config["RestartPolicy"]["Name"] == "unless-stopped"
    assert config["Memory"] > 0
    # Nothing in the process wants to write where it cannot (gunicorn 25+ put a control socket in $HOME).
    assert "Read-only file system" not in prod.compose("logs", "--no-color", service).stdout


@pytest.mark.parametrize("service", ["proxy", "web", "worker", "beat", "redis", "cache"])
def test_no_long_running_service_runs_as_root_or_in_group_0(prod, service):
    uid, gid = prod.compose("exec", "-T", service, "sh", "-c", "id -u; id -g").stdout.split()
    assert uid != "0"
    assert gid != "0"
    assert prod.inspect(service)["HostConfig"]["CapAdd"] in (None, [])


@pytest.mark.parametrize("service", ["db", "redis", "cache", "web", "worker", "beat"])
def test_only_the_proxy_publishes_a_port(prod, service):
    bindings = prod.inspect(service)["HostConfig"]["PortBindings"] or {}
    assert bindings == {}
    proxy = prod.inspect("proxy")["HostConfig"]["PortBindings"]
    assert {port: proxy[port][0]["HostIp"] for port in proxy} == {"8080/tcp": "127.0.0.1", "8443/tcp": "127.0.0.1"}


def test_web_has_no_route_out_and_bodies_are_capped(prod):
    networks = set(prod.inspect("web")["NetworkSettings"]["Networks"])
    # metrics: Prometheus reads /metrics there when monitoring is on (internal too).
    assert networks == {f"{prod.project}_internal", f"{prod.project}_front", f"{prod.project}_metrics"}
    for network in networks:
        out = subprocess.run(["docker", "network", "inspect", network], capture_output=True, text=True, check=True)
        assert json.loads(out.stdout)[0]["Internal"] is True
    huge = {"email": "a@example.com", "password": "x" * (2 * 1024 * 1024)}
    assert prod.request("POST", "/api/v1/auth/login/", huge, headers=HTTPS).status == 413


def test_db_and_redis_sit_on_internal_networks_only(prod):
    # db is also on `offsite`, the way to an off-host backup repository: closed while none is set.
    expected = {"db": ["internal", "offsite"], "redis": ["internal"], "cache": ["internal"]}
    for service, names in expected.items():
        networks = prod.inspect(service)["NetworkSettings"]["Networks"]
        assert sorted(networks) == [f"{prod.project}_{name}" for name in names]
        for name in networks:
            inspected = subprocess.run(["docker", "network", "inspect", name], capture_output=True, text=True)
            assert json.loads(inspected.stdout)[0]["Internal"] is True, f"{service}'s network {name} has a route out"


def test_redis_refuses_unauthenticated_clients(prod):
    anonymous = prod.compose("exec", "-T", "redis", "redis-cli", "ping", check=False)
    assert "NOAUTH" in anonymous.stdout + anonymous.stderr
    authenticated = prod.compose(
        "exec", "-T", "-e", f"REDISCLI_AUTH={prod.values['REDIS_PASSWORD']}", "redis", "redis-cli", "ping"
    )
    assert authenticated.stdout.strip() == "PONG"


def test_a_stalled_database_or_cache_never_hangs_liveness_readiness_or_the_catalogue(prod):
    path = "/api/v1/products/?page_size=2"
    assert prod.request("GET", path, headers=HTTPS).status == 200
    for service in ("db", "cache"):
        prod.compose("pause", service)
        try:
            time.sleep(1.2)  # the proxy's copy of the list has expired
            for probe, expected in (("/api/v1/health/", 200), ("/api/v1/health/ready/", 503), (path, 200)):
                started = time.monotonic()
                status = prod.request("GET", probe, headers=HTTPS).status
                took = time.monotonic() - started
                assert (status, took < 2.5) == (expected, True), f"{service} paused: {probe} {status} in {took:.1f}s"
        finally:
            prod.compose("unpause", service)
            resumed = time.monotonic()
        prod.wait_for(lambda: prod.request("GET", "/api/v1/health/ready/", headers=HTTPS).status == 200, "ready")
        every_process_past_its_backoff(resumed)


def every_process_past_its_backoff(resumed: float) -> None:
    """Wait until each web process answers again after a database stall that ended at `resumed`.

    A process whose wait on the stalled server timed out refuses new connections for BACKOFF_SECONDS
    after it (core/postgres/base.py), by design: the first 200 came from one process, the next request
    may reach another that saw its timeout just before the stall ended.
    """
    time.sleep(max(0.0, resumed + BACKOFF_SECONDS + 0.5 - time.monotonic()))


def test_an_anonymous_search_attack_is_refused_at_once_while_other_requests_are_served(prod):
    # Unbounded, 101 words took 4-5 s of PostgreSQL 17 on 200,000 products, and 1,001 words (a 4.9 KB URL)
    # held it past any statement timeout while JIT compiled. Now 101 words are a 400 from Django before any
    # query, and 1,001 a 414 from Gunicorn (its 4 KB request-line limit) before Django sees them.
    def words(n: int) -> str:
        return "/api/v1/products/?search=" + "+".join(f"w{k}" for k in range(n))

    attacks = {words(101): 400, words(1001): 414}
    answers: list[tuple[int, int, float]] = []

    def attack_once(path: str) -> None:
        started = time.monotonic()
        status = prod.request("GET", path, headers=HTTPS).status
        answers.append((attacks[path], status, time.monotonic() - started))

    attackers = [threading.Thread(target=attack_once, args=(path,)) for path in attacks for _ in range(4)]
    probes: list[tuple[str, int, float, bytes]] = []  # path, status, seconds, the body's start
    for thread in attackers:
        thread.start()
    while any(t.is_alive() for t in attackers) or not probes:
        for probe in ("/api/v1/health/", "/api/v1/health/ready/", "/api/v1/products/?search=masala"):
            started = time.monotonic()
            response = prod.request("GET", probe, headers=HTTPS)
            probes.append((probe, response.status, time.monotonic() - started, response.body[:200]))
    for thread in attackers:
        thread.join(timeout=60)
    assert len(answers) == 8
    assert [(expected, status) for expected, status, _ in answers if status != expected] == []
    assert max(took for _, _, took in answers) < 3, answers
    assert [probe for probe in probes if probe[1] != 200 or probe[2] >= 3] == []
    refused = prod.request("GET", words(101), headers=HTTPS).json()
    assert refused == {"search": ["At most 100 characters; this has 394."]}
    assert prod.request("GET", words(17).replace("w", "x"), headers=HTTPS).json() == {
        "search": ["At most 16 words; this has 17."]
    }


def test_the_apps_statements_are_cancelled_by_the_servers_timeout_with_jit_off(prod):
    # On the stack's own PostgreSQL, through the web app's own connection settings.
    program = (
        "import time; from django.db import connection, OperationalError; c = connection.cursor(); "
        "c.execute('SHOW statement_timeout'); timeout = c.fetchone()[0]; c.execute('SHOW jit'); jit = c.fetchone()[0]; "
        "started = time.monotonic()\n"
        "try:\n    c.execute('SELECT pg_sleep(60)')\n"
        "except OperationalError as e:\n    print(type(e.__cause__).__name__)\n"
        "print(timeout, jit, round(time.monotonic() - started))"
    )
    out = prod.compose("exec", "-T", "web", "python", "manage.py", "shell", "--command", program).stdout
    cancelled, settings = out.strip().splitlines()[-2:]
    assert cancelled == "QueryCanceled"
    assert settings == "5s off 5"


class CatalogueReads(BackgroundLoad):
    """Anonymous list reads past the proxy's cache while a `with` block runs: the load the stall happens under."""

    def __init__(self, prod) -> None:
        super().__init__()
        self.prod, self.sent = prod, 0

    def step(self) -> None:
        with contextlib.suppress(OSError):  # what these reads see is not the question; the probes' answers are
            self.prod.request("GET", f"/api/v1/products/?page_size=3&page={self.sent % 3 + 1}", headers=HTTPS)
        self.sent += 1


def test_a_stalled_database_or_broker_answers_every_request_within_3_s_and_recovers_at_once(prod):
    email = f"stall-{uuid.uuid4().hex[:6]}@example.com"
    password = "E2e-" + uuid.uuid4().hex
    body = {"email": email, "password": password, "first_name": "S", "last_name": "T"}
    assert prod.request("POST", "/api/v1/auth/register/", body, headers=HTTPS).status == 201
    token = prod.request("POST", "/api/v1/auth/login/", body, headers=HTTPS).json()["access"]
    product = prod.request("GET", "/api/v1/products/?in_stock=true", headers=HTTPS).json()["results"][0]["id"]
    probes = {
        "cart read": lambda: prod.request("GET", "/api/v1/cart/", token=token, headers=HTTPS),
        "login": lambda: prod.request("POST", "/api/v1/auth/login/", body, headers=HTTPS),
        "checkout": lambda: prod.request(
            "POST", "/api/v1/orders/create/", {"items": [{"product_id": product, "quantity": 1}]}, token, HTTPS
        ),
    }
    healthy = {"cart read": 200, "login": 200, "checkout": 201}

    def answers() -> dict[str, tuple[int, float, bytes]]:
        seen = {}
        for name, probe in probes.items():
            started = time.monotonic()
            response = probe()
            seen[name] = (response.status, time.monotonic() - started, response.body)
        return seen

    with CatalogueReads(prod) as load:
        prod.compose("pause", "db")
        try:
            time.sleep(0.5)
            stalled = answers()
        finally:
            prod.compose("unpause", "db")
        resumed = time.monotonic()
        prod.wait_for(lambda: probes["cart read"]().status == 200, "the database answering", 10, 0.2)
        recovery = time.monotonic() - resumed
        every_process_past_its_backoff(resumed)
        after = answers()  # one of each only: logins are rate-limited per address
        prod.compose("pause", "redis")  # the broker, and the ended-sessions store
        try:
            time.sleep(0.5)
            broker_down = answers()
        finally:
            prod.compose("unpause", "redis")
    figure(
        f"database paused: {', '.join(f'{n} {s} in {t:.1f} s' for n, (s, t, _) in stalled.items())}; "
        f"answering {recovery:.1f} s after unpause (every web process by {BACKOFF_SECONDS:g} s, its backoff)"
    )
    figure(f"broker paused: {', '.join(f'{n} {s} in {t:.1f} s' for n, (s, t, _) in broker_down.items())}")
    assert load.sent > 0
    for name, (status, took, answer) in stalled.items():
        assert (status, took < 3) == (503, True), f"db paused: {name} {status} in {took:.1f}s"
        assert json.loads(answer) == {"detail": "The service is briefly unavailable; try again in a moment."}
    assert recovery < 3
    assert {name: status for name, (status, _, _) in after.items()} == healthy, after
    for name, (status, took, _) in broker_down.items():
        assert (status, took < 3) == (healthy[name], True), f"redis paused: {name} {status} in {took:.1f}s"


def test_one_address_cannot_hold_more_than_its_connections(prod):
    """Requests whose bodies never come (as a slow sender's) each hold a slot; past CONN_PER_ADDRESS: 429 at once."""
    port = int(prod.values["HTTPS_PORT"])
    held: list[ssl.SSLSocket] = []
    context = prod.tls_context()
    head = (
        # Not a login path: nginx's login rate limit runs before the connection limit and would answer first.
        f"POST /api/v1/cart/add/ HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/json\r\n"
        "Content-Length: 1000\r\n\r\n"
    ).encode()
    try:
        for _ in range(64):
            sock = context.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=10))
            sock.sendall(head)  # and nothing more: the body is still to come
            held.append(sock)
        time.sleep(0.5)  # every header read by nginx
        started = time.monotonic()
        refused = prod.request("GET", "/api/v1/products/?page_size=1", headers=HTTPS)
        assert (refused.status, time.monotonic() - started < 2) == (429, True)
    finally:
        for sock in held:
            sock.close()
    prod.wait_for(
        lambda: prod.request("GET", "/api/v1/products/?page_size=1", headers=HTTPS).status == 200, "slots free", 10
    )


def test_cache_evictions_never_touch_the_broker(prod):
    def policy(service: str) -> str:
        auth = f"REDISCLI_AUTH={prod.values['REDIS_PASSWORD']}"
        return prod.compose("exec", "-T", "-e", auth, service, "redis-cli", "config", "get", "maxmemory-policy").stdout

    assert "noeviction" in policy("redis")  # the broker refuses writes rather than drop a task
    assert "allkeys-lru" in policy("cache")
    environment = prod.inspect("web")["Config"]["Env"]
    assert "REDIS_CACHE_URL=redis://cache:6379/0" in environment


def test_redis_restarts_with_its_data_as_a_non_root_user(prod):
    auth = ["-e", f"REDISCLI_AUTH={prod.values['REDIS_PASSWORD']}"]
    prod.compose("exec", "-T", *auth, "redis", "redis-cli", "set", "e2e-persists", "yes")
    prod.compose("restart", "redis")
    prod.wait_for(lambda: prod.inspect("redis")["State"]["Health"]["Status"] == "healthy", "redis healthy again")
    assert prod.compose("exec", "-T", *auth, "redis", "redis-cli", "get", "e2e-persists").stdout.strip() == "yes"
    assert prod.compose("exec", "-T", "redis", "id", "-u").stdout.strip() == "999"
    assert prod.inspect("redis")["HostConfig"]["CapAdd"] in (None, [])


def test_killed_web_process_is_restarted_by_the_restart_policy(prod):
    kill_and_await_restart(prod, "web")
    assert prod.request("GET", "/api/v1/health/ready/", headers=HTTPS).status == 200


MAILED = re.compile(r"Subject: DesiDeliver order #(\d+) confirmed")


def mails(prod, orders: list[int]) -> dict[int, int]:
    """How many confirmations of each order the worker mailed: console mail is in its output, kept across restarts."""
    sent = Counter(int(order) for order in MAILED.findall(prod.logs("worker")))
    return {order: sent[order] for order in orders}


def confirmed(prod, orders: list[int]) -> list[int]:
    """Which of `orders` the database says are confirmed (confirmation_sent_at set)."""
    return json.loads(
        django(
            prod,
            "import json; from orders.models import Order; print(json.dumps(sorted(Order.objects.filter("
            f"pk__in={orders}, confirmation_sent_at__isnull=False).values_list('pk', flat=True))))",
        )
    )


@contextlib.contextmanager
def row_locked(prod, table: str, pk: int) -> Iterator[None]:
    """While the block runs, a session of the app's role holds row `pk` of `table` locked (for 3 minutes at most)."""
    name = f"e2e-hold-{uuid.uuid4().hex[:6]}"
    hold = f"BEGIN; SELECT 1 FROM {table} WHERE id = {pk} FOR UPDATE; SELECT pg_sleep(180); COMMIT;"  # noqa: S608
    command = prod.compose_command("exec", "-T", "-e", f"PGAPPNAME={name}", *psql(prod, hold, as_app=True))
    quiet = {"stdin": subprocess.DEVNULL, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    holder = subprocess.Popen(command, env=prod.environ, **quiet)
    session = f"FROM pg_stat_activity WHERE application_name = '{name}'"
    try:
        held = f"SELECT count(*) {session} AND wait_event = 'PgSleep'"  # past the SELECT ... FOR UPDATE
        prod.wait_for(lambda: sql(prod, held).stdout.strip() == "1", f"the lock on {table} {pk}", 30, 0.2)
        yield
    finally:
        sql(prod, f"SELECT pg_terminate_backend(pid) {session}")
        holder.wait(timeout=30)


def test_a_worker_killed_while_it_mails_a_run_sends_every_confirmation_exactly_once(prod):
    """A run mails each order in its own transaction (its claim, an UPDATE, then the mail): the crash loses
    the one being mailed and those after it, never one that went out, and the next run sends each of those once."""
    tag = uuid.uuid4().hex[:6]
    product_id = new_product(prod, f"Mail {tag}", "3.00")
    token = register_and_login(prod, f"mail-{tag}@example.com", headers=HTTPS)

    def place() -> int:
        order = prod.request(
            "POST", "/api/v1/orders/create/", {"items": [{"product_id": product_id, "quantity": 1}]}, token, HTTPS
        )
        assert order.status == 201, order.body
        return order.json()["id"]

    # As if a run were queued: these orders queue none, and the test starts the run once the third is locked.
    queued = "from django.core.cache import cache; from orders.tasks import RUN_QUEUED; cache.set(RUN_QUEUED, 0, 60)"
    django(prod, queued)
    orders = [place() for _ in range(4)]
    claim_waits = (
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
        'AND query LIKE \'UPDATE "orders_order" SET "confirmation_sent_at"%\''
    )
    with row_locked(prod, "orders_order", orders[2]):
        django(prod, "from orders.tasks import send_pending_confirmations; send_pending_confirmations.delay()")
        # The run mailed the first two and waits to claim the third; the app's statement timeout ends that
        # wait after 5 s (the run is then retried), so the kill follows at once.
        prod.wait_for(lambda: sql(prod, claim_waits).stdout.strip() != "0", "the run to wait on order 3", 30, 0.2)
        back_in = kill_and_await_restart(prod, "worker")
        # Read while the lock still holds the third (and the fourth behind it, in the run's order).
        assert confirmed(prod, orders) == orders[:2]
        assert mails(prod, orders) == {orders[0]: 1, orders[1]: 1, orders[2]: 0, orders[3]: 0}

    orders.append(place())  # the next order queues a run, as any does
    started = time.monotonic()
    prod.wait_for(lambda: confirmed(prod, orders) == orders, "every order confirmed", timeout=60, interval=1)
    figure(
        f"worker killed mid-run: healthy again in {back_in:.0f} s; the next order's run confirmed the rest "
        f"in {time.monotonic() - started:.1f} s"
    )
    assert mails(prod, orders) == dict.fromkeys(orders, 1)


def test_prod_check_passes(prod):
    result = prod.inv("prod.check")
    assert "System check identified no issues" in result.stdout
    assert "✓ no env files, private keys or secret values" in result.stdout
    assert "the configured certificate over TLS 1.2 and 1.3; TLS 1.0 and 1.1 refused" in result.stdout
    assert "shows none of the" in result.stdout
    assert "which is no superuser" in result.stdout


def test_no_container_shows_a_secret_and_the_app_is_no_superuser(prod):
    secrets = [prod.values[name] for name in ("SECRET_KEY", "POSTGRES_PASSWORD", "APP_DB_PASSWORD", "REDIS_PASSWORD")]
    containers = prod.compose("ps", "--all", "-q").stdout.split()
    assert len(containers) >= 8
    for container in containers:
        inspected = json.dumps(prod.inspect_container(container))
        assert not [secret for secret in secrets if secret in inspected], container
    role = prod.compose(
        "exec", "-T", "web", "python", "manage.py", "shell", "--command",
        "from django.db import connection; c = connection.cursor(); "
        "c.execute('SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user'); print(*c.fetchone())",
    ).stdout.strip().splitlines()[-1]  # fmt: skip
    assert role == "desideliver_app False"
    psql = prod.inv("db.psql", "--env", "prod", "-c", "SELECT 1").stdout
    assert "as role desideliver (the superuser; the app connects as desideliver_app)" in psql


def test_the_swarm_stack_generated_from_this_stack_validates(prod):
    out = prod.inv("swarm.config").stdout
    assert "11 services, no secret values" in out  # db-roles and migrate as jobs, pitr-restore a tool, not in it
    assert "ok -- validation done" in out  # the compose spec; docker stack config ran before it
    stack = json.loads((ROOT / "var" / "swarm" / "stack.config.json").read_text())
    assert stack["services"]["web"]["deploy"]["update_config"]["order"] == "start-first"
    text = json.dumps(stack)
    assert not [name for name in ("SECRET_KEY", "POSTGRES_PASSWORD", "REDIS_PASSWORD") if prod.values[name] in text]


def scheduled_dumps(prod) -> list[Path]:
    return sorted(prod.backups.glob("desideliver-prod-*Z.dump"))


def test_scheduled_backups_fire_and_restore(prod):
    dumps = prod.wait_for(lambda: len(scheduled_dumps(prod)) >= 2 and scheduled_dumps(prod), "two scheduled backups")
    newest = dumps[-1]
    metadata = json.loads(newest.with_name(newest.name + ".json").read_text())
    assert (metadata["environment"], metadata["kind"]) == ("prod", "regular")
    assert metadata["migrations"]["orders"] == newest_migration("orders")
    assert newest.with_name(newest.name + ".sha256").read_text().split()[1] == newest.name
    assert prod.inspect("backup")["State"]["Health"]["Status"] == "healthy"
    prod.wait_for(lambda: "backup: pruned" in prod.logs("backup"), "retention to prune the oldest", timeout=40)
    # BACKUP_KEEP_LAST=3; a fourth exists only for the moment between sealing and pruning.
    prod.wait_for(lambda: len(scheduled_dumps(prod)) == 3, "exactly three dumps", timeout=10, interval=0.2)

    out = prod.inv("db.restore", str(newest), "--env", "prod", "--yes").stdout
    assert f"✓ restored {newest.name}" in out
    assert prod.request("GET", "/api/v1/health/ready/", headers=HTTPS).status == 200


def test_a_failing_scheduled_backup_turns_the_service_unhealthy(prod):
    prod.backups.chmod(0o555)  # the service (no capabilities) can no longer write there
    try:
        # 150 s: a restore of the test before may have held the stack lock when the service last looked,
        # and it then waits 60 s before it tries again.
        prod.wait_for(
            lambda: prod.inspect("backup")["State"]["Health"]["Status"] == "unhealthy",
            "the backup service to turn unhealthy",
            timeout=150,
        )
        assert "backup: FAILED: " in prod.logs("backup")
    finally:
        prod.backups.chmod(0o755)
    prod.wait_for(
        lambda: prod.inspect("backup")["State"]["Health"]["Status"] == "healthy",
        "the backup service to recover",
        timeout=150,
    )


def test_the_proxy_caches_anonymous_catalogue_reads_for_a_second_and_never_credentials(prod):
    prod.compose("exec", "-T", "web", "python", "manage.py", "load_demo_data")
    path = "/api/v1/products/?page_size=3"
    prod.request("GET", path, headers=HTTPS)
    assert prod.request("GET", path, headers=HTTPS).headers["X-Cache"] == "HIT"
    assert prod.request("GET", path, headers={**HTTPS, "Cookie": "a=b"}).headers["X-Cache"] == "BYPASS"
    token = register_and_login(prod, f"cache-{uuid.uuid4().hex[:6]}@example.com", headers=HTTPS)
    assert prod.request("GET", path, token=token, headers=HTTPS).headers["X-Cache"] == "BYPASS"
    assert "X-Cache" not in prod.request("GET", "/api/v1/auth/me/", token=token, headers=HTTPS).headers

    product = prod.request("GET", path, headers=HTTPS).json()["results"][0]
    detail = f"/api/v1/products/{product['id']}/"
    prod.request("GET", detail, headers=HTTPS)  # cached now
    change = (
        "import json, time; from catalog.models import Product; "
        f"p = Product.objects.get(pk={product['id']}); p.price = p.price + 1; p.save(); "
        "print(json.dumps([str(p.price), time.time()]))"
    )
    price, saved_at = json.loads(django(prod, change))
    price_shown_within_two_seconds(prod, detail, price, saved_at)


def price_shown_within_two_seconds(prod, detail: str, price: str, saved_at: float) -> None:
    """An anonymous client of the proxy sees `price` at `detail` within the documented two seconds of the save."""
    prod.wait_for(lambda: prod.request("GET", detail, headers=HTTPS).json()["price"] == price, "the new price", 5, 0.05)
    assert time.time() - saved_at < 2.5  # (plus this loop's step)


def psql(prod, statement: str, as_app: bool = False) -> list[str]:
    """`compose exec` arguments that run `statement` in the prod database: as the app's role, with its password
    over the network as the app connects; or as the superuser (trusted on the db container's socket), looking
    names up in pg_catalog only."""
    if as_app:
        who = ["-e", f"PGPASSWORD={prod.values['APP_DB_PASSWORD']}", "db", "psql", "-h", "db", "-U", "desideliver_app"]
    else:
        who = ["-e", "PGOPTIONS=-c search_path=pg_catalog", "db", "psql", "-U", "desideliver"]
    return [*who, "-X", "-tA", "-v", "ON_ERROR_STOP=1", "-d", "desideliver", "-c", statement]


def sql(prod, statement: str, as_app: bool = False, check: bool = True) -> subprocess.CompletedProcess:
    """`statement` in the prod database (see psql)."""
    return prod.compose("exec", "-T", *psql(prod, statement, as_app), check=check)


# Both attacks, as the app's role can make them (it owns the public schema and django_migrations). Every read of
# django_migrations, and any call of pg_get_userbyid that resolves through the search_path the app set for its
# own role, runs e2e_escalate: it notes who ran it, then tries to make the app a superuser, which only a
# superuser's session can (RESET ROLE undoes a superuser's SET ROLE).
ATTACKS = """
CREATE TABLE public.e2e_ran_as (who name);
CREATE FUNCTION public.e2e_escalate() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.e2e_ran_as VALUES (current_user);
    BEGIN
        RESET ROLE;
        ALTER ROLE desideliver_app SUPERUSER;
    EXCEPTION WHEN insufficient_privilege THEN NULL;
    END;
END $$;
ALTER TABLE public.django_migrations RENAME TO e2e_django_migrations;
CREATE FUNCTION public.e2e_migrations() RETURNS SETOF public.e2e_django_migrations LANGUAGE plpgsql AS $$
BEGIN
    PERFORM public.e2e_escalate();
    RETURN QUERY SELECT * FROM public.e2e_django_migrations;
END $$;
CREATE VIEW public.django_migrations AS SELECT * FROM public.e2e_migrations();
CREATE FUNCTION public.pg_get_userbyid(oid) RETURNS name LANGUAGE plpgsql AS $$
BEGIN
    PERFORM public.e2e_escalate();
    RETURN pg_catalog.pg_get_userbyid($1);
END $$;
ALTER ROLE desideliver_app IN DATABASE desideliver SET search_path = public, pg_catalog;
"""
UNDO_ATTACKS = """
DO $$ BEGIN
    IF pg_catalog.to_regclass('public.e2e_django_migrations') IS NOT NULL THEN
        DROP VIEW public.django_migrations;
        ALTER TABLE public.e2e_django_migrations RENAME TO django_migrations;
    END IF;
END $$;
DROP FUNCTION IF EXISTS public.e2e_migrations(), public.pg_get_userbyid(oid), public.e2e_escalate();
DROP TABLE IF EXISTS public.e2e_ran_as;
ALTER DATABASE desideliver RESET search_path;
ALTER ROLE desideliver_app IN DATABASE desideliver RESET ALL;
ALTER ROLE desideliver_app NOSUPERUSER;
"""


def undo_attacks(prod, tries: int = 5) -> None:
    """UNDO_ATTACKS, again if it lost a deadlock to the running app's read of django_migrations (the app's
    session can hold the table while it waits for the view this drops; the loser's statements all roll back)."""
    for _ in range(tries):
        undone = sql(prod, UNDO_ATTACKS, check=False)
        if "deadlock detected" not in undone.stderr:
            break
    assert undone.returncode == 0, undone.stderr


def test_the_app_role_cannot_make_itself_superuser(prod):
    def superuser_flag() -> str:
        return sql(prod, "SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = 'desideliver_app'").stdout.strip()

    def ran_as() -> set[str]:
        return set(sql(prod, "SELECT who FROM public.e2e_ran_as").stdout.split())

    sql(prod, ATTACKS, as_app=True)
    try:
        # The database is the superuser's: the app cannot set the search_path of every session in it.
        refused = sql(prod, "ALTER DATABASE desideliver SET search_path = public, pg_catalog", True, check=False)
        assert "must be owner of database desideliver" in refused.stderr, refused.stderr
        # What an earlier version, which gave the app the database, let it leave behind for db-roles.
        sql(prod, "ALTER DATABASE desideliver SET search_path = public, pg_catalog")

        backup = prod.inv("db.backup", "--env", "prod").stdout
        dump = Path(re.search(r"✓ backup (\S+)", backup).group(1))
        metadata = json.loads(dump.with_name(dump.name + ".json").read_text())
        assert metadata["migrations"]["orders"] == newest_migration("orders")  # read through the view, as the app
        assert superuser_flag() == "f"
        assert ran_as() == {"desideliver_app"}  # the backup's read ran it, never as the superuser

        # db-roles runs again; then migrate stops the up: Django sees no django_migrations table (a view is none).
        up = prod.inv("prod.up", check=False)
        assert up.returncode != 0
        assert 'service "migrate" didn\'t complete successfully' in up.stdout + up.stderr
        assert superuser_flag() == "f"
        assert ran_as() == {"desideliver_app"}
        owner = "SELECT pg_catalog.pg_get_userbyid(datdba) FROM pg_catalog.pg_database WHERE datname = 'desideliver'"
        assert sql(prod, owner).stdout.strip() == "desideliver"
        settings = (
            "SELECT count(*) FROM pg_catalog.pg_db_role_setting s JOIN pg_catalog.pg_database d "
            "ON d.oid = s.setdatabase WHERE d.datname = 'desideliver'"
        )
        assert sql(prod, settings).stdout.strip() == "0"  # db-roles reset the database's and the app's settings
    finally:
        undo_attacks(prod)
    assert superuser_flag() == "f"
    assert sql(prod, "SELECT pg_catalog.count(*) > 0 FROM public.django_migrations").stdout.strip() == "t"
    prod.inv("prod.up")  # and the stack starts whole again
    assert prod.request("GET", "/api/v1/health/ready/", headers=HTTPS).status == 200


def test_dev_down_volumes_leaves_prod_alone_whatever_name_the_shell_gives(prod, tmp_path):
    """One COMPOSE_PROJECT_NAME once made dev and prod one project: dev.down --volumes deleted prod's database.

    Last in the file: were prod's stack removed, every test after it would fail for that reason instead.
    """

    email = f"survivor-{uuid.uuid4().hex[:6]}@example.com"
    django(prod, f"from accounts.models import User; print(User.objects.create_user('{email}').pk)")
    services = set(prod.compose("ps", "--status", "running", "--services").stdout.split())
    dev = make_stack("dev", tmp_path, dev_settings())
    # The name prod's shell gives (the shared case), then prod's whole project name.
    for shared in (prod.name, prod.project):
        dev.extra_env["COMPOSE_PROJECT_NAME"] = shared
        out = dev.inv("dev.down", "--volumes", "--yes").stdout
        assert f"--project-name {shared}-dev " in out
        assert f"--project-name {prod.project} " not in out
    volumes = subprocess.run(
        ["docker", "volume", "ls", "--format", "{{.Name}}"], capture_output=True, text=True, check=True
    ).stdout.split()
    assert {f"{prod.project}_postgres_data", f"{prod.project}_redis_data"} <= set(volumes)
    assert set(prod.compose("ps", "--status", "running", "--services").stdout.split()) == services
    assert prod.request("GET", "/api/v1/health/ready/", headers=HTTPS).status == 200
    kept = f"from accounts.models import User; print(User.objects.filter(email='{email}').exists())"
    assert django(prod, kept) == "True"
