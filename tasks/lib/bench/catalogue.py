"""bench.load --products 2000,200000,...: the requests the proxy cache cannot serve, at each catalogue size.

The catalogue grows to each size in turn (seed_catalog adds what is missing), and every scenario
runs past the proxy's cache (a cookie), so Gunicorn and Django answer: Django's own catalogue
cache then answers repeated searches and pages, as it does for a shop's popular ones. Beside
them: the in-process time of a miss (time_views --uncached), whether the sought product is in
the first 3 results, and Django's ceiling through the same proxy (liveness, a hello-JSON view).
Budgets are checked at 200,000 products (issue 20), growth from the smallest size to the largest.
"""

from __future__ import annotations

import json
import urllib.parse
from dataclasses import dataclass, field

from ..run import say
from .loadgen import Figures
from .scenarios import LIST, Bench, fetch, seed, verdict

PAST_PROXY = {"Cookie": "bench=1"}
BUDGET_SIZE = 200_000
# name: (least req/s, most p99 ms or 0)
BUDGETS = {
    "search, a common word": (1000, 100),
    "search, one product's name": (1500, 50),
    "search, a prefix of it": (1500, 50),
    "search, a typo in it": (1500, 50),
    "page in the middle": (1500, 50),
    "page in the middle, filtered": (1500, 50),
    "product detail": (2000, 0),
    "cart read": (2000, 50),
    "add to cart": (1000, 100),
}
SOUGHT = ("search, one product's name", "search, a prefix of it", "search, a typo in it")


@dataclass
class Size:
    products: int
    figures: dict[str, Figures] = field(default_factory=dict)
    miss_ms: dict[str, float] = field(default_factory=dict)
    found: dict[str, bool] = field(default_factory=dict)


def measure_size(bench: Bench, products: int, users: int) -> Size:
    say(f"\nCatalogue of {products:,} products: seeding (what is missing), then past the proxy cache ...")
    made, token_file, _ = seed(bench, products, users)
    ids, searches = made["product_ids"], made["searches"]
    sought = ids[products // 2]
    pages = max(1, products // 20)
    paths = {
        "search, a common word": f"{LIST}?search={urllib.parse.quote(searches['common'])}",
        "search, one product's name": f"{LIST}?search={urllib.parse.quote(searches['name'])}",
        "search, a prefix of it": f"{LIST}?search={urllib.parse.quote(searches['prefix'])}",
        "search, a typo in it": f"{LIST}?search={urllib.parse.quote(searches['typo'])}",
        "page in the middle": f"{LIST}?page={pages // 2}",
        "page in the middle, filtered": f"{LIST}?category=bench-03&page={max(1, pages // 20 // 2)}",
        "product detail": f"{LIST}{sought}/",
    }
    size = Size(products)
    for name, path in paths.items():
        size.figures[name] = bench.measure(path, extra=PAST_PROXY)
    body = json.dumps({"product_id": ids[1], "quantity": 1})
    size.figures["cart read"] = bench.measure("/api/v1/cart/", tokens=token_file)
    size.figures["add to cart"] = bench.measure("/api/v1/cart/add/", method="POST", body=body, tokens=token_file)
    size.figures["Django's ceiling: liveness, hello JSON"] = bench.measure("/api/v1/health/", extra=PAST_PROXY)
    timed = {path: name for name, path in paths.items() if name != "product detail"}
    missed = json.loads(bench.manage("time_views", *timed, "--repeat", "5", "--uncached").splitlines()[-1])
    size.miss_ms = {timed[path]: ms for path, ms in missed.items()}
    for name in SOUGHT:
        first = json.loads(fetch(bench, paths[name]))["results"][:3]
        size.found[name] = sought in [p["id"] for p in first]
    return size


def report(sizes: list[Size]) -> None:
    names = list(sizes[0].figures)
    width = max(len(n) for n in names) + 2
    say(
        "\nPast the proxy cache, by catalogue size: req/s (p99 ms) | a miss in-process, ms; "
        "✓ sought product in top 3; ! answers that failed"
    )
    say(" " * width + "".join(f"{s.products:>34,}" for s in sizes))
    ceiling = "Django's ceiling: liveness, hello JSON"
    for name in names:
        cells = []
        for size in sizes:
            f = size.figures[name]
            cell = f"{f.rps:,.0f} ({f.p99_ms:.0f})" + (f" !{f.failed:,}" if f.failed else "")
            if name in size.miss_ms:
                cell += f" | {size.miss_ms[name]:.0f}"
            if name in size.found:
                cell += " ✓" if size.found[name] else " ✗"
            if name != ceiling:
                cell += f" {f.rps / size.figures[ceiling].rps:.0%}"
            cells.append(f"{cell:>34}")
        say(f"  {name:<{width - 2}}" + "".join(cells))
    say("  (the % is of Django's ceiling in the same run)")
    budgets(sizes)


def budgets(sizes: list[Size]) -> None:
    at = next((s for s in sizes if s.products == BUDGET_SIZE), None)
    say(f"\nBudgets (issue 20) at {BUDGET_SIZE:,} products" + ("" if at else ": not measured at that size"))
    if at:
        for name, (rps, p99) in BUDGETS.items():
            f = at.figures[name]
            ok = f.rps >= rps and (not p99 or f.p99_ms <= p99) and at.found.get(name, True) and not f.failed
            limit = f">= {rps:,} req/s" + (f", p99 <= {p99} ms" if p99 else "")
            top3 = "" if name not in at.found else (", in the top 3" if at.found[name] else ", NOT in the top 3")
            errors = f", {f.failed:,} answers failed" if f.failed else ""
            say(f"  {verdict(ok)}  {name} {limit}: {f.rps:,.0f} req/s, p99 {f.p99_ms:.0f} ms{top3}{errors}")
    if len(sizes) > 1:
        small, large = sizes[0], sizes[-1]
        halved = [n for n in BUDGETS if large.figures[n].rps < 0.5 * small.figures[n].rps]
        say(
            f"  {verdict(not halved)}  from {small.products:,} to {large.products:,} products no scenario loses more "
            f"than half its throughput" + (f": {', '.join(halved)} did" if halved else "")
        )
