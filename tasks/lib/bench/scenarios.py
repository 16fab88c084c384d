"""./inv bench.load: the prod stack under load, each endpoint beside its ceilings, and the budgets.

The stack is a prod deploy of this checkout in a compose project of its own,
seeded with a benchmark catalogue (seed_catalog). Every scenario goes through
the proxy's published TLS port on loopback (HTTP/1.1 keep-alive over TLS 1.3),
as a client of the first allowed host would.
"""

from __future__ import annotations

import json
import statistics
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..run import output, say, shell
from ..stack import Stack
from ..tls import client_context
from .loadgen import Checkout, Figures, checkout_in_one_request, checkout_through_cart, combine, wrk

HOST = "localhost"
HEADERS = {"Host": HOST}
LIST = "/api/v1/products/"
STATIC = "/nginx-bench"  # docker/nginx/desideliver.conf: a body the benchmark writes into the proxy's /tmp
CONCURRENCY = (2, 8, 32, 128)
SCARCE_STOCK = 30


@dataclass
class Bench:
    stack: Stack
    port: int
    runs: int
    seconds: float
    workdir: Path
    cpus: str = ""  # wrk's cores, when the host has cores to spare

    @property
    def base(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def manage(self, *args: str) -> str:
        return output(self.stack.exec("web", "python", "manage.py", *args), step=f"manage.py {args[0]}", timeout=600)

    def shell(self, code: str) -> object:
        """Run Python in the web container; its last printed line, parsed as JSON."""
        return json.loads(self.manage("shell", "--command", code).splitlines()[-1])

    def measure(
        self, path: str, connections: int = 32, extra: dict[str, str] | None = None, **options: object
    ) -> Figures:
        url, headers = self.base + path, {**HEADERS, **(extra or {})}
        wrk(url, connections=connections, seconds=1, headers=headers, cpus=self.cpus, **options)  # warm
        runs = [
            wrk(url, connections=connections, seconds=self.seconds, headers=headers, cpus=self.cpus, **options)
            for _ in range(self.runs)
        ]
        return combine(runs)


def seed(bench: Bench, products: int, users: int) -> tuple[dict, Path, list[str]]:
    """The catalogue (seed_catalog's JSON), and a file of access tokens for the shoppers (minted in-process:
    no slow logins)."""
    made = seed_catalog(bench, products, users)
    tokens = bench.shell(
        "import json; from accounts.models import User; "
        "from rest_framework_simplejwt.tokens import RefreshToken as R; "
        "print(json.dumps([str(R.for_user(u).access_token) "
        "for u in User.objects.filter(email__endswith='@bench.local').order_by('id')]))"
    )
    token_file = bench.workdir / "tokens"
    token_file.write_text("\n".join(tokens) + "\n")
    return made, token_file, tokens


def seed_catalog(bench: Bench, products: int, users: int) -> dict:
    """seed_catalog's JSON: the shoppers' password and emails, the product ids, searches to time."""
    command = ("seed_catalog", "--products", str(products), "--categories", "20", "--users", str(users))
    return json.loads(bench.manage(*command).splitlines()[-1])


def in_process_ms(bench: Bench, paths: list[str]) -> dict[str, float]:
    return json.loads(bench.manage("time_views", *paths, "--repeat", "300").splitlines()[-1])


def static_ceiling(bench: Bench, size: int) -> Figures:
    """nginx returning a static body of `size` bytes through the same published port."""
    proxy = output(bench.stack.compose("ps", "-q", "proxy"), step="find the proxy")
    write = f"head -c {size} /dev/zero | tr '\\0' x > /tmp/nginx-bench-body"
    output(shell("docker", "exec", proxy, "sh", "-c", write), step="write the static body")
    return bench.measure(STATIC)


def stock_report(bench: Bench, ids: list[int]) -> dict[str, list[int]]:
    """{id: [stock now, units ordered so far]} for `ids`."""
    return bench.shell(
        "import json; from django.db.models import Sum; from catalog.models import Product; "
        "from orders.models import OrderItem; "
        f"print(json.dumps({{i: [Product.objects.get(pk=i).stock, OrderItem.objects.filter(product_id=i)"
        f".aggregate(s=Sum('quantity'))['s'] or 0] for i in {ids!r}}}))"
    )


def settle(bench: Bench, seconds: float = 120) -> int:
    """Wait until the worker has taken every queued task (checkout's confirmations); the number left."""
    count = (
        "from config.celery import app\n"
        "with app.connection_for_write() as c: print(c.default_channel.client.llen(app.conf.task_default_queue))"
    )
    deadline = time.monotonic() + seconds
    while (left := int(bench.shell(count))) and time.monotonic() < deadline:
        time.sleep(2)
    return left


def run_checkout(
    bench: Bench, tokens: list[str], products: list[int], buyers: int, lines_in_order: bool
) -> tuple[Checkout, bool, str]:
    """`buyers` at once over plentiful and scarce products; then every scarce unit accounted for."""
    settle(bench)  # the worker is not still mailing an earlier scenario's confirmations
    scarce = products[-3:]
    bench.shell(
        "from catalog.models import Product; from catalog import cache; "
        f"Product.objects.filter(pk__in={scarce!r}).update(stock={SCARCE_STOCK}); cache.invalidate(); print(1)"
    )
    before = stock_report(bench, scarce)
    shop = products[:37] + scarce
    buyer_tokens = bench.workdir / "buyer-tokens"
    buyer_tokens.write_text("\n".join(tokens[:buyers]) + "\n")
    url = f"{bench.base}/api/v1/orders/create/"
    runs = [
        checkout_in_one_request(url, HEADERS, buyer_tokens, shop, bench.seconds, bench.cpus)
        if lines_in_order
        else checkout_through_cart("127.0.0.1", bench.port, HEADERS, tokens[:buyers], shop, bench.seconds)
        for _ in range(bench.runs)
    ]
    after = stock_report(bench, scarce)
    sold = {i: after[i][1] - before[i][1] for i in before}
    oversold = [i for i in before if after[i][0] < 0 or before[i][0] - after[i][0] != sold[i]]
    detail = ", ".join(f"#{i}: {sold[i]} sold of {before[i][0]}, {after[i][0]} left" for i in before)
    total = Checkout(
        orders=int(statistics.median(r.orders for r in runs)),
        conflicts=int(statistics.median(r.conflicts for r in runs)),
        errors=sum(r.errors for r in runs),
        seconds=statistics.median(r.seconds for r in runs),
        first_errors=tuple(e for r in runs for e in r.first_errors)[:5],
    )
    return total, not oversold, detail


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def report(rows: list[tuple[str, Figures]], ceilings: dict[str, Callable[[Figures], str]]) -> None:
    width = max(len(name) for name, _ in rows)
    for name, figures in rows:
        extra = ceilings[name](figures) if name in ceilings else ""
        say(f"  {name:<{width}}  {figures.line()}{extra}")


def fetch(bench: Bench, path: str) -> bytes:
    request = urllib.request.Request(bench.base + path, headers=HEADERS)  # noqa: S310 - loopback
    with urllib.request.urlopen(request, timeout=10, context=client_context()) as response:  # noqa: S310
        return response.read()


def fetch_size(bench: Bench, path: str) -> int:
    return len(fetch(bench, path))


def freshness(bench: Bench, product: int) -> float:
    """Seconds from a committed price change until anonymous readers see it through the proxy."""
    path = f"{LIST}{product}/"
    fetch(bench, path)  # cached at every layer
    saved = bench.shell(
        f"import json, time; from catalog.models import Product; p = Product.objects.get(pk={int(product)}); "
        "p.price = p.price + 1; p.save(); print(json.dumps([str(p.price), time.time()]))"
    )
    price, at = saved
    deadline = time.time() + 30
    while time.time() < deadline:
        if json.loads(fetch(bench, path))["price"] == price:
            return time.time() - at
        time.sleep(0.02)
    return float("inf")


def measure_all(bench: Bench, products: int, users: int, buyers: int, cores: int) -> None:
    say(f"Seeding {products} products in 20 categories and {users} shoppers ...")
    made, token_file, tokens = seed(bench, products, users)
    ids = made["product_ids"]
    paths_file = bench.workdir / "detail-paths"
    paths_file.write_text("".join(f"{LIST}{i}/\n" for i in ids))
    anonymous = {
        "product list": LIST,
        "product list, filtered": f"{LIST}?category=bench-03&min_price=100&max_price=500&in_stock=true",
        "product list, searched": f"{LIST}?search=masala",
        "product list, page 5": f"{LIST}?page=5",
        "product detail": f"{LIST}{ids[0]}/",
        "categories": "/api/v1/categories/",
        "health": "/api/v1/health/",
    }
    say(f"\nScenarios through the proxy, 32 connections, median of {bench.runs} runs of {bench.seconds:g}s each:")
    rows = [(name, bench.measure(path)) for name, path in anonymous.items()]
    rows.append(("product detail, 2,000 ids", bench.measure(LIST, paths=paths_file)))
    # A cookie makes the proxy pass the request on: Gunicorn and Django's own cache.
    rows.append(("product list, past the proxy cache", bench.measure(LIST, extra={"Cookie": "bench=1"})))
    rows.append(("cart read (300 users)", bench.measure("/api/v1/cart/", tokens=token_file)))
    body = json.dumps({"product_id": ids[1], "quantity": 1})
    rows.append(
        ("add to cart (300 users)", bench.measure("/api/v1/cart/add/", method="POST", body=body, tokens=token_file))
    )
    by_name = dict(rows)
    fresh = statistics.median(freshness(bench, ids[0]) for _ in range(5))

    django_ms = in_process_ms(bench, list(anonymous.values()))
    size = fetch_size(bench, LIST)
    static = static_ceiling(bench, size)

    def ceiling(path: str) -> Callable[[Figures], str]:
        limit = cores * 1000 / django_ms[path]
        return lambda f: (
            f"  | {f.rps / static.rps:4.0%} of nginx static, {f.rps / limit:4.0%} of Django's {limit:,.0f}/s"
        )

    report(rows, {name: ceiling(path) for name, path in anonymous.items()})
    say(f"  ceilings: nginx static body ({size:,} bytes, same port) {static.line()}")
    say("  Django in-process per request: " + ", ".join(f"{p} {ms:.2f} ms" for p, ms in django_ms.items()))

    say("\nThe product list by concurrency:")
    curve = [(f"{n} connections", bench.measure(LIST, connections=n)) for n in CONCURRENCY]
    report(curve, {})
    best = max(f.rps for _, f in curve)
    widest = curve[-1][1]

    say(f"\nCheckout: {buyers} buyers at once, small carts (1-2 lines), {bench.runs} runs of {bench.seconds:g}s:")
    checkouts = {}
    for label, lines_in_order in (("cart on the server: add, add, order", False), ("lines in the order", True)):
        checkouts[lines_in_order] = run_checkout(bench, tokens, ids, buyers, lines_in_order)
        placed, _, stock = checkouts[lines_in_order]
        say(f"  {label}:\n    {placed.line()}\n    scarce products: {stock}")
        if placed.first_errors:
            say(f"    first errors: {'; '.join(placed.first_errors)}")
    orders, no_oversell, _ = checkouts[True]
    via_cart, cart_no_oversell, _ = checkouts[False]

    listed = by_name["product list"]
    say("\nBudgets (this host: " + f"{cores} cores, load generator included):")
    for ok, text in (
        (fresh <= 2, f"a price change is visible to anonymous readers within 2 s: {fresh:.2f} s (median of 5)"),
        (
            listed.rps >= 2000 and listed.p99_ms <= 50,
            f"cached list >= 2,000 req/s, p99 <= 50 ms: {listed.rps:,.0f}, {listed.p99_ms:.1f} ms",
        ),
        (by_name["product detail"].rps >= 800, f"product detail >= 800 req/s: {by_name['product detail'].rps:,.0f}"),
        (
            orders.orders_per_second >= 150 and orders.errors + via_cart.errors == 0 and no_oversell,
            f"checkout >= 150 orders/s, 0 errors, no oversell: {orders.orders_per_second:.0f} (lines in the order; "
            f"{via_cart.orders_per_second:.0f} through the server cart), {orders.errors + via_cart.errors}, "
            f"{'none oversold' if no_oversell and cart_no_oversell else 'OVERSOLD'}",
        ),
        (
            widest.rps >= 0.8 * best and widest.timeouts == 0,
            f"no collapse: 128 connections >= 80% of the best ({widest.rps:,.0f} of {best:,.0f}), "
            f"0 timeouts ({widest.timeouts})",
        ),
    ):
        say(f"  {verdict(ok)}  {text}")
