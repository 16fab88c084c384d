"""`inv dev.up --native` serves the API: the flow a new developer tries first.

Runs the real task in a subprocess on its own SQLite file, env file and
port, talks HTTP to it on loopback, and stops it (bounded: 90 s at most).
"""

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from tasks.lib import native
from tests.helpers import INV, ROOT, fake_commands, free_port


def call(base: str, method: str, path: str, body: dict | None = None, token: str = "") -> tuple[int, dict]:
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, method=method, headers=headers)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback http
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.fixture
def native_server(tmp_path):
    port = free_port()
    env = {
        **os.environ,
        "DESIDELIVER_ENV_FILE": str(tmp_path / ".env"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'native.sqlite3'}",
        "REDIS_URL": "",
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    server = subprocess.Popen(
        [*INV, "dev.up", "--native", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}/api/v1"
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if call(base, "GET", "/health/")[0] == 200:
                    break
            except (urllib.error.URLError, OSError):
                time.sleep(0.5)
        else:
            pytest.fail("the native dev server did not answer within 90 s")
        yield base, tmp_path, server, env
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        output = server.communicate(timeout=30)[0]
        print(output[-3000:])


def test_native_dev_up_serves_register_login_products_cart_order(native_server):
    base, tmp, _, _ = native_server
    assert (tmp / ".env").exists()  # created from .env.example on first run
    email, password = "native-flow@example.com", "Curry-leaf-2024"
    assert (
        call(
            base, "POST", "/auth/register/", {"email": email, "password": password, "first_name": "N", "last_name": "F"}
        )[0]
        == 201
    )
    status, tokens = call(base, "POST", "/auth/login/", {"email": email, "password": password})
    assert status == 200
    token = tokens["access"]
    status, products = call(base, "GET", "/products/?in_stock=true")
    assert status == 200
    assert products["count"] > 0  # demo data loaded into the empty catalogue
    product = products["results"][0]
    assert call(base, "POST", "/cart/add/", {"product_id": product["id"], "quantity": 2}, token)[0] == 201
    status, order = call(base, "POST", "/orders/create/", {"delivery_address": "1 Native Road"}, token)
    assert status == 201
    status, again = call(base, "GET", f"/orders/{order['id']}/", token=token)
    assert status == 200
    assert again["items"][0]["quantity"] == 2


# Every curl of the walkthrough fails the run on an HTTP error, naming the command; its body is printed.
STRICT_CURL = r"""
curl() {
    local out code
    out=$(command curl -sS -w '\n%{http_code}' "$@") || return 1
    code=${out##*$'\n'}
    printf '%s\n' "${out%$'\n'*}"
    if (( code >= 400 )); then
        echo "HTTP $code from: curl $*" >&2
        return 1
    fi
}
"""


def test_the_readmes_api_walkthrough_works_pasted_top_to_bottom(native_server):
    """As a newcomer pastes it into a shell, on a fresh native stack: every request answers below 400."""
    base, _, _, _ = native_server
    readme = (ROOT / "README.md").read_text()
    walkthrough = next(block for block in readme.split("```bash\n")[1:] if block.startswith("API=http"))
    script = walkthrough.split("```")[0].replace("API=http://127.0.0.1:8000/api/v1", f"API={base}", 1)
    assert f"API={base}" in script, "the walkthrough no longer starts with API=http://127.0.0.1:8000/api/v1"
    assert script.count("curl ") >= 15
    result = subprocess.run(
        ["bash", "-c", "set -eo pipefail\n" + STRICT_CURL + script], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, f"{result.stderr}\n{result.stdout[-2000:]}"
    assert "4 Anna Salai, Chennai" in result.stdout  # the order was placed, and read back


def test_with_the_docker_stack_stopped_manage_commands_reach_the_running_native_server(native_server, tmp_path):
    """Docker present (an engine that answers, no dev stack running): dev.manage, db.migrate and
    db.makemigrations run on the host against the native stack's database, not "start the stack"."""
    _, _, _, env = native_server
    docker = fake_commands(tmp_path / "bin", docker="exit 0")
    with_docker = {**env, "PATH": f"{docker}:{env['PATH']}"}
    for args, expected in (
        (["dev.manage", "showmigrations", "catalog"], "[X] 0002_product_search_document"),
        (["db.migrate"], "No migrations to apply."),
        (["db.makemigrations"], "No changes detected"),
    ):
        result = subprocess.run([*INV, *args], env=with_docker, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "the Docker stack is stopped: running natively" in result.stdout
        assert expected in result.stdout


def test_ctrl_c_stops_the_native_server_as_a_normal_end(native_server):
    _, _, server, _ = native_server
    os.killpg(server.pid, signal.SIGINT)  # what the terminal sends the foreground group on Ctrl-C
    output = server.communicate(timeout=30)[0]
    assert server.returncode == 0, output[-2000:]
    assert "Stopped (Ctrl-C)." in output
    assert "interrupted" not in output
    assert native.running_port() is None  # the marker is no longer held


def test_a_marker_left_by_a_killed_server_is_known_stale(tmp_path, monkeypatch):
    """SIGKILL leaves the file behind: its lock went with the process, so no task takes it for a server."""
    monkeypatch.setattr(native, "MARKER", tmp_path / "native-server.json")
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from tasks.lib import native; native.MARKER = "
         f"__import__('pathlib').Path({str(tmp_path / 'native-server.json')!r})\n"
         "with native.serving(8123): print('serving', flush=True); time.sleep(60)"],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "serving"
        assert native.running_port() == 8123
    finally:
        holder.kill()
        holder.wait(timeout=10)
    assert (tmp_path / "native-server.json").exists()
    assert native.running_port() is None
