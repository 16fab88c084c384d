"""Load generation for ./inv bench.load: wrk for request scenarios, threads of buyers for checkout.

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

from .run import output
from .tls import client_context

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

    def line(self) -> str:
        errors = f"non-2xx {self.non_2xx}, socket errors {self.socket_errors} ({self.timeouts} timeouts)"
        return f"{self.rps:>9,.0f} req/s  p50 {self.p50_ms:>7.2f} ms  p99 {self.p99_ms:>7.2f} ms  {errors}"


def wrk(
    url: str,
    *,
    connections: int,
    seconds: float,
    headers: dict[str, str],
    method: str = "GET",
    body: str = "",
    tokens: Path | None = None,
    paths: Path | None = None,
    cpus: str = "",
) -> Figures:
    """One wrk run; `cpus` pins wrk to those cores (taskset) when given."""
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
    }
    out = output(shlex.join([*command, url]), step=f"wrk {method} {url}", env=environment, timeout=seconds + 60)
    data = json.loads(next(line for line in out.splitlines() if line.startswith("WRK_JSON "))[9:])
    requests = max(data["requests"], 1)
    return Figures(
        rps=data["requests"] / (data["duration_us"] / 1e6),
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        non_2xx=data["status"],
        socket_errors=data["connect"] + data["read"] + data["write"] + data["timeout"],
        timeouts=data["timeout"],
        bytes_per_request=data["bytes"] / requests,
    )


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


def checkout(
    host: str,
    port: int,
    headers: dict[str, str],
    tokens: list[str],
    products: list[int],
    seconds: float,
    lines_in_order: bool = False,
) -> Checkout:
    """One thread per buyer (token), each on its own keep-alive TLS connection: a small cart, order, repeat.

    The cart is filled on the server (add, add, order), or, with `lines_in_order`,
    sent with the order: one request per order, as a client keeping its own cart does.
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
                picked = rng.sample(products, rng.randint(1, 2))
                lines = [{"product_id": product, "quantity": rng.randint(1, 2)} for product in picked]
                order = {"delivery_address": "Bench Road 1"}
                if lines_in_order:
                    order["items"] = lines
                else:
                    for line in lines:
                        status, _ = call("POST", "/api/v1/cart/add/", line)
                        if status >= 500:
                            tally(status, f"cart/add: HTTP {status}")
                status, _ = call("POST", "/api/v1/orders/create/", order)
                tally(status, f"orders/create: HTTP {status}")
                if status != 201 and not lines_in_order:  # stock ran out: empty the cart and shop again
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
