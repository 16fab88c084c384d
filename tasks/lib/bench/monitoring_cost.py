"""./inv bench.load --monitoring: what monitoring costs the request path (budget: at most 5%).

One stack, seeded once, measured with MONITORING off and then on (the same deploy
again, which restarts web and the worker with their metrics and events on and starts
Prometheus, Alertmanager, Flower and the exporters). Off comes first: what drifts with
time on a shared host (tables growing with every checkout) then counts against "on",
so the cost printed is if anything too high, never flattered. On two shared cores the
rates move by 10-20% from run to run: read the full run (5 s runs), not --short.
"""

from __future__ import annotations

from collections.abc import Callable

from ..run import say
from .scenarios import LIST, Bench, run_checkout, seed, verdict

BUDGET = 0.05


def figures(bench: Bench, ids: list[int], tokens: list[str], buyers: int) -> dict[str, float]:
    """The scenarios monitoring could slow, each a rate (higher is better)."""
    return {
        "product list (the proxy's cache), req/s": bench.measure(LIST).rps,
        # A cookie makes the proxy pass the request on, through Django's request metrics.
        "product list past the proxy cache, req/s": bench.measure(LIST, extra={"Cookie": "bench=1"}).rps,
        "checkout, lines in the order, orders/s": checkout(bench, ids, tokens, buyers),
    }


def checkout(bench: Bench, ids: list[int], tokens: list[str], buyers: int) -> float:
    # A first checkout after a (re)start runs a third slower (measured: 66 then 98 orders/s): discarded.
    run_checkout(bench, tokens, ids, buyers, True)
    return run_checkout(bench, tokens, ids, buyers, True)[0].orders_per_second


def compare(bench: Bench, products: int, users: int, buyers: int, turn_on: Callable[[], None]) -> None:
    say(f"Seeding {products} products in 20 categories and {users} shoppers ...")
    made, _, tokens = seed(bench, products, users)
    ids = made["product_ids"]
    say(f"Measuring with MONITORING=off (median of {bench.runs} runs of {bench.seconds:g}s each) ...")
    off = figures(bench, ids, tokens, buyers)
    say("Turning monitoring on (the same deploy with MONITORING=on) ...")
    turn_on()
    say("Measuring with MONITORING=on ...")
    on = figures(bench, ids, tokens, buyers)
    width = max(len(name) for name in off)
    say(f"\nWhat monitoring costs (budget: at most {BUDGET:.0%} of each rate):")
    say(f"  {'':<{width}}  {'off':>9}  {'on':>9}  cost")
    for name, before in off.items():
        cost = 1 - on[name] / before if before else 0.0
        say(f"  {name:<{width}}  {before:>9,.1f}  {on[name]:>9,.1f}  {cost:>5.1%}  {verdict(cost <= BUDGET)}")
