"""The load generator's plumbing: wrk with the project's script against a real local server."""

import json
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tasks.lib.bench.loadgen import Figures, checkout_in_one_request, combine, wrk

pytestmark = pytest.mark.skipif(shutil.which("wrk") is None, reason="needs wrk (.ci/run installs it)")


class Recorder(BaseHTTPRequestHandler):
    seen: list[tuple[str, str, str, bytes]] = []

    def do_GET(self):
        self.answer()

    def do_POST(self):
        self.answer()

    def answer(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        Recorder.seen.append((self.command, self.path, self.headers.get("Authorization", ""), body))
        status = 503 if self.path == "/down" else 200
        if self.path == "/orders":  # a shop: product 3 is sold out, product 4 breaks the server
            ordered = {line["product_id"] for line in json.loads(body)["items"]}
            status = 500 if 4 in ordered else 409 if 3 in ordered else 201
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    Recorder.seen = []
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_wrk_sends_the_method_body_tokens_and_paths_and_reports_figures(server, tmp_path):
    tokens, paths = tmp_path / "tokens", tmp_path / "paths"
    tokens.write_text("t1\nt2\n")
    paths.write_text("/a\n/b\n")
    figures = wrk(
        server + "/", connections=2, seconds=1, headers={"X-Bench": "1"}, method="POST", body='{"x": 1}',
        tokens=tokens, paths=paths,
    )  # fmt: skip
    assert figures.rps > 0
    assert figures.non_2xx == 0
    assert figures.p50_ms <= figures.p99_ms
    assert {method for method, _, _, _ in Recorder.seen} == {"POST"}
    assert {path for _, path, _, _ in Recorder.seen} == {"/a", "/b"}
    assert {auth for _, _, auth, _ in Recorder.seen} == {"Bearer t1", "Bearer t2"}
    assert {body for _, _, _, body in Recorder.seen} == {b'{"x": 1}'}


def test_wrk_counts_error_statuses(server):
    figures = wrk(server + "/down", connections=1, seconds=1, headers={})
    assert figures.non_2xx > 0


def test_combine_takes_medians_of_rates_and_sums_errors():
    runs = [Figures(100, 1, 9, 0, 1, 0, 10), Figures(300, 3, 7, 2, 0, 0, 10), Figures(200, 2, 8, 0, 0, 1, 10)]
    assert combine(runs) == Figures(200, 2, 8, 2, 1, 1, 10)


def test_checkout_posts_small_carts_as_each_buyer_and_counts_orders_conflicts_and_errors(server, tmp_path):
    tokens = tmp_path / "tokens"
    tokens.write_text("buyer1\nbuyer2\nbuyer3\n")
    placed = checkout_in_one_request(server + "/orders", {}, tokens, [1, 2, 3, 4], seconds=1)
    answered = [json.loads(body) for _, _, _, body in Recorder.seen]
    statuses = [
        500 if 4 in ids else 409 if 3 in ids else 201
        for ids in ({i["product_id"] for i in a["items"]} for a in answered)
    ]
    assert {auth for _, _, auth, _ in Recorder.seen} == {"Bearer buyer1", "Bearer buyer2", "Bearer buyer3"}
    assert {len(order["items"]) for order in answered} == {1, 2}
    assert {line["quantity"] for order in answered for line in order["items"]} == {1, 2}
    # wrk stops with up to one request per connection unanswered: the server's counts bound wrk's.
    for counted, status in ((placed.orders, 201), (placed.conflicts, 409), (placed.errors, 500)):
        assert statuses.count(status) - 3 <= counted <= statuses.count(status)
        assert counted > 0
    assert placed.first_errors[0].startswith("HTTP 500: ")
    assert placed.orders_per_second == pytest.approx(placed.orders / placed.seconds)
