"""bench.load --products: sizes checked while parsing, and the per-size table with its budgets.

The measuring itself runs against a real stack (./inv bench.load; docs/performance.md has a run);
here the parts that decide what a reader is told: which sizes, which verdicts.
"""

import pytest

from catalog import synthetic
from tasks.lib.bench import catalogue
from tasks.lib.bench.loadgen import Figures
from tasks.lib.cli import NUMBER_LISTS
from tests.helpers import inv


def test_every_size_the_flag_takes_has_products_named_each_their_own_way():
    assert NUMBER_LISTS["products"][1] <= synthetic.capacity()


@pytest.mark.parametrize("value", ["abc", "0", "2000,x", "2000,3000000", ""])
def test_a_bad_size_is_refused_while_parsing_before_anything_runs(value):
    result = inv("bench.load", "--products", value, "--dry-run", check=False)
    assert result.returncode != 0
    assert "--products takes whole numbers from 1 to 2,000,000, comma-separated" in result.stdout + result.stderr
    assert "load benchmark" not in result.stdout


def figures(rps: float, p99: float = 10.0, non_2xx: int = 0) -> Figures:
    return Figures(rps=rps, p50_ms=1.0, p99_ms=p99, non_2xx=non_2xx, socket_errors=0, timeouts=0, bytes_per_request=100)


def size(products: int, rps: float, found: bool = True) -> catalogue.Size:
    result = catalogue.Size(products)
    result.figures = {name: figures(rps) for name in catalogue.BUDGETS}
    result.figures["Django's ceiling: liveness, hello JSON"] = figures(4 * rps)
    result.miss_ms = {"search, a common word": 165.0}
    result.found = dict.fromkeys(catalogue.SOUGHT, found)
    return result


def test_the_table_has_a_column_per_size_and_the_budgets_are_judged_at_200000(capsys):
    catalogue.report([size(2000, 3000), size(200_000, 2500), size(1_000_000, 1000)])
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if "1,000,000" in line)
    assert header.split() == ["2,000", "200,000", "1,000,000"]
    assert "3,000 (10) | 165" in out  # req/s (p99) | a miss in-process
    assert "PASS  search, a common word >= 1,000 req/s, p99 <= 100 ms: 2,500 req/s, p99 10 ms" in out
    assert "PASS  search, one product's name >= 1,500 req/s, p99 <= 50 ms: 2,500 req/s, p99 10 ms, in the top 3" in out
    assert "FAIL  from 2,000 to 1,000,000 products no scenario loses more than half its throughput" in out


def test_a_product_not_in_the_top_3_fails_its_budget_however_fast(capsys):
    catalogue.report([size(200_000, 5000, found=False)])
    out = capsys.readouterr().out
    assert "FAIL  search, a typo in it >= 1,500 req/s, p99 <= 50 ms: 5,000 req/s, p99 10 ms, NOT in the top 3" in out
    assert "✗" in out


def test_without_the_budget_size_it_says_so(capsys):
    catalogue.report([size(2000, 3000)])
    assert "Budgets (issue 20) at 200,000 products: not measured at that size" in capsys.readouterr().out


def test_failed_answers_show_in_their_cell_and_fail_the_budget_however_fast(capsys):
    """At 1,000,000 products the searches answered 503 fast: those are no throughput."""
    timed_out = size(200_000, 5000)
    timed_out.figures["search, a common word"] = figures(5000, non_2xx=12_345)
    catalogue.report([timed_out])
    out = capsys.readouterr().out
    assert "5,000 (10) !12,345 | 165" in out
    assert (
        "FAIL  search, a common word >= 1,000 req/s, p99 <= 100 ms: 5,000 req/s, p99 10 ms, 12,345 answers failed"
        in out
    )
    assert "PASS  search, one product's name" in out
