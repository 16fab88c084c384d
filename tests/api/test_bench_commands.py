"""The benchmark's own management commands: a seeded catalogue and in-process timings."""

import json

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from catalog.models import Category, Product

pytestmark = pytest.mark.django_db


def run(*args: str, capsys) -> dict:
    call_command(*args)
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_seed_catalog_makes_a_shop_once_and_says_how_to_log_in(capsys, client):
    made = run("seed_catalog", "--products", "40", "--categories", "4", "--users", "5", capsys=capsys)
    assert Product.objects.filter(slug__startswith="bench-product-").count() == 40
    assert Category.objects.filter(slug__startswith="bench-").count() == 4
    assert len(made["product_ids"]) == 40
    user = get_user_model().objects.get(email=made["emails"][0])
    assert user.check_password(made["password"])
    # Each its own name, a shop's; and the searches a benchmark times, for the product in the middle.
    assert Product.objects.filter(slug__startswith="bench-product-").values("name").distinct().count() == 40
    middle = Product.objects.get(pk=made["product_ids"][20])
    assert made["searches"]["name"] == middle.name
    assert made["searches"]["common"] == "organic"
    assert middle.name.startswith(made["searches"]["prefix"].split()[0])
    again = run("seed_catalog", "--products", "40", "--categories", "4", "--users", "5", capsys=capsys)
    assert again["product_ids"] == made["product_ids"]  # nothing added twice
    assert Product.objects.filter(slug__startswith="bench-product-").count() == 40


def test_time_views_reports_a_median_per_path(capsys):
    timings = run("time_views", "/api/v1/health/", "/api/v1/categories/", "--repeat", "5", capsys=capsys)
    assert set(timings) == {"/api/v1/health/", "/api/v1/categories/"}
    assert all(ms > 0 for ms in timings.values())
