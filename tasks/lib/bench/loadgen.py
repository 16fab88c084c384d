"""Load generation for ./inv bench.load: wrk, and threads of Python buyers where wrk cannot follow a sequence.

Figures are medians of several runs (this machine's cores are shared by the
load generator and the stack, so one run says little); errors are summed over
the runs, so one bad run still shows.
"""

from __future__ import annotations

import http.client
import json
import random
import shlex
import statistics
import threading
import time
from dataclasses import dataclass, fields
from pathlib import Path

from ..run import output
from ..tls import client_context

WRK_SCRIPT = Path(__file__).with_name("wrk_report.lua")


@dataclass(frozen=True)
class Figures:
    rps: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    socket_errors: int
    timeouts: int
    bytes_per_request: float

    @property
    def failed(self) -> int:
        """Answers that were not a success: a fast 503 is no throughput."""
        return self.non_2xx + self.socket_errors

    def line(self) -> str:
        errors = f"non-2xx {self.non_2xx}, socket errors {self.socket_errors} ({self.timeouts} timeouts)"
        return f"{self.rps:>9,.0f} req/s  p50 {self.p50_ms:>7.2f} ms  p99 {self.p99_ms:>7.2f} ms  {errors}"


def wrk_run(
    url: str,
    *,
    connections: int,
    seconds: float,
    headers: dict[str, str],
    method: str = "GET",
    body: str = "",
    tokens: Path | None = None,
    paths: Path | None = None,
    bodies: Path | None = None,
    statuses: bool = False,
    cpus: str = "",
) -> dict:
    """One wrk run, its summary as wrk_report.lua prints it; `cpus` pins wrk to those cores (taskset) when given."""
    threads = max(1, min(2, connections))
    command = [*(["taskset", "-c", cpus] if cpus else []), "wrk", f"-t{threads}", f"-c{connections}"]
    command += [f"-d{max(1, round(seconds))}s", "--timeout", "5s", "-s", str(WRK_SCRIPT)]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    environment = {
        "WRK_METHOD": method,
        "WRK_BODY": body,
        "WRK_TOKENS": str(tokens or ""),
        "WRK_PATHS": str(paths or ""),
        "WRK_BODIES": str(bodies or ""),
        "WRK_STATUSES": "1" if statuses else "",
    }
    out = output(shlex.join([*command, url]), step=f"wrk {method} {url}", env=environment, timeout=seconds + 60)
    return json.loads(next(line for line in out.splitlines() if line.startswith("WRK_JSON "))[9:])


def wrk(url: str, **options: object) -> Figures:
    """One wrk run's figures (options: those of wrk_run)."""
    data = wrk_run(url, **options)
    requests = max(data["requests"], 1)
    return Figures(
        rps=data["requests"] / (data["duration_us"] / 1e6),
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        non_2xx=data["status"],
        socket_errors=socket_errors(data),
        timeouts=data["timeout"],
        bytes_per_request=data["bytes"] / requests,
    )


def socket_errors(data: dict) -> int:
    return data["connect"] + data["read"] + data["write"] + data["timeout"]


def combine(runs: list[Figures]) -> Figures:
    """Medians of rates and latencies; errors summed over the runs."""
    summed = {"non_2xx", "socket_errors", "timeouts"}
    values = {}
    for field in fields(Figures):
        column = [getattr(run, field.name) for run in runs]
        values[field.name] = sum(column) if field.name in summed else statistics.median(column)
    return Figures(**values)


@dataclass
class Checkout:
    orders: int = 0
    conflicts: int = 0
    errors: int = 0
    seconds: float = 0.0
    first_errors: tuple[str, ...] = ()

    @property
    def orders_per_second(self) -> float:
        return self.orders / self.seconds if self.seconds else 0.0

    def line(self) -> str:
        return (
            f"{self.orders_per_second:>9,.1f} orders/s  {self.orders} orders and {self.conflicts} answered 409 "
            f"(stock ran out) per run, {self.errors} errors in all"
        )


def small_cart(rng: random.Random, products: list[int]) -> list[dict[str, int]]:
    """1-2 distinct products, 1-2 units each: what every checkout scenario orders."""
    picked = rng.sample(products, rng.randint(1, 2))
    return [{"product_id": product, "quantity": rng.randint(1, 2)} for product in picked]


def checkout_in_one_request(
    url: str, headers: dict[str, str], tokens: Path, products: list[int], seconds: float, cpus: str = ""
) -> Checkout:
    """wrk, one connection per buyer (a line of `tokens`), each posting orders that carry their lines.

    This is a client that keeps its own cart. wrk, not Python, so that the
    load generator's share of the cores stays small (a thread of Python per
    buyer took a quarter of a core at 120 orders/s).
    """
    rng = random.Random(len(products))  # noqa: S311 - not security
    bodies = tokens.with_name("order-bodies")
    orders = (json.dumps({"delivery_address": "Bench Road 1", "items": small_cart(rng, products)}) for _ in range(5000))
    bodies.write_text("\n".join(orders) + "\n")
    buyers = len(tokens.read_text().split())
    data = wrk_run(
        url, connections=buyers, seconds=seconds, headers=headers, method="POST",
        tokens=tokens, bodies=bodies, statuses=True, cpus=cpus,
    )  # fmt: skip
    counted = {int(status): n for status, n in data["statuses"].items()}
    unexpected = {status: n for status, n in counted.items() if status not in (201, 409)}
    sockets = socket_errors(data)
    return Checkout(
        orders=counted.get(201, 0),
        conflicts=counted.get(409, 0),
        errors=sum(unexpected.values()) + sockets,
        seconds=data["duration_us"] / 1e6,
        first_errors=(
            *(f"HTTP {status}: {n} responses" for status, n in sorted(unexpected.items())),
            *([f"{sockets} socket errors"] if sockets else []),
        ),
    )


def checkout_through_cart(
    host: str, port: int, headers: dict[str, str], tokens: list[str], products: list[int], seconds: float
) -> Checkout:
    """One thread per buyer (token), each on its own keep-alive TLS connection: add, add, order, repeat.

    A cart on the server is a sequence per buyer, which wrk cannot follow:
    this client is Python, and its own share of the cores counts against it.
    """
    result, lock = Checkout(), threading.Lock()
    deadline = time.monotonic() + seconds

    def buyer(token: str, seed: int) -> None:
        rng = random.Random(seed)  # noqa: S311 - not security
        connection = http.client.HTTPSConnection(host, port, timeout=30, context=client_context())
        auth = {**headers, "Authorization": f"Bearer {token}", "Content-Type": "application/json"}

        def call(method: str, path: str, payload: dict | None = None) -> tuple[int, bytes]:
            connection.request(method, path, json.dumps(payload) if payload else None, auth)
            response = connection.getresponse()
            return response.status, response.read()

        def tally(status: int, what: str) -> None:
            with lock:
                if status == 201:
                    result.orders += 1
                elif status == 409:
                    result.conflicts += 1
                elif status >= 500 or status == 0:
                    result.errors += 1
                    result.first_errors = (*result.first_errors, what)[:5]

        while time.monotonic() < deadline:
            try:
                for line in small_cart(rng, products):
                    status, _ = call("POST", "/api/v1/cart/add/", line)
                    if status >= 500:
                        tally(status, f"cart/add: HTTP {status}")
                status, _ = call("POST", "/api/v1/orders/create/", {"delivery_address": "Bench Road 1"})
                tally(status, f"orders/create: HTTP {status}")
                if status != 201:  # stock ran out: empty the cart and shop again
                    for item in json.loads(call("GET", "/api/v1/cart/")[1])["items"]:
                        call("DELETE", f"/api/v1/cart/remove/{item['id']}/")
            except (OSError, http.client.HTTPException, ValueError) as exc:
                tally(0, f"{type(exc).__name__}: {exc}")
                connection = http.client.HTTPSConnection(host, port, timeout=30, context=client_context())

    started = time.monotonic()
    threads = [threading.Thread(target=buyer, args=(t, n), daemon=True) for n, t in enumerate(tokens)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=seconds + 60)
    result.seconds = time.monotonic() - started
    return result
