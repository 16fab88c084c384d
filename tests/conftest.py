import pytest
from django.core.cache import cache, caches
from django.db import connection
from rest_framework.test import APIClient

from catalog.models import Category, Product
from tests.helpers import PASSWORD, client_for


@pytest.fixture(autouse=True)
def _clean_cache():
    # Throttle counters, cached product lists and cached users must not leak between tests.
    for each in (cache, caches["revocations"]):
        each.clear()
    yield
    for each in (cache, caches["revocations"]):
        each.clear()


@pytest.fixture
def api() -> APIClient:
    return APIClient()


@pytest.fixture
def make_user(django_user_model):
    def make(email: str = "asha@example.com", **extra):
        return django_user_model.objects.create_user(email=email, password=PASSWORD, **extra)

    return make


@pytest.fixture
def user(make_user):
    return make_user()


@pytest.fixture
def staff(make_user):
    return make_user("staff@example.com", is_staff=True)


@pytest.fixture
def auth(user) -> APIClient:
    return client_for(user)


@pytest.fixture
def staff_client(staff) -> APIClient:
    return client_for(staff)


@pytest.fixture
def category(db) -> Category:
    return Category.objects.create(name="Spices", slug="spices")


@pytest.fixture
def make_product(category):
    def make(name: str = "Garam Masala", price: str = "85.00", stock: int = 10, **extra) -> Product:
        extra.setdefault("category", category)
        extra.setdefault("slug", name.lower().replace(" ", "-"))
        return Product.objects.create(name=name, price=price, stock=stock, **extra)

    return make


@pytest.fixture
def product(make_product) -> Product:
    return make_product()


def pytest_collection_modifyitems(config, items) -> None:
    """Skip `@pytest.mark.postgres("why")` tests on SQLite, saying why and how to run them.

    Such a test must not even start there: one that closes or locks the connection
    breaks the shared in-memory SQLite database for every test after it.
    """
    if connection.vendor == "postgresql":
        return
    for item in items:
        marker = item.get_closest_marker("postgres")
        if marker is None:
            continue
        why = marker.args[0] if marker.args else "needs PostgreSQL"
        item.add_marker(pytest.mark.skip(reason=f"{why}; set DATABASE_URL to a PostgreSQL server to run it"))


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    """Say what the deselected tests are, so "47 deselected" does not look like a problem."""
    items = terminalreporter.stats.get("deselected", [])
    deselected = sum(1 for item in items if getattr(item, "get_closest_marker", lambda _: None)("e2e"))
    if deselected and "e2e" not in (config.getoption("markexpr") or "").replace("not e2e", ""):
        terminalreporter.write_line(
            f"{deselected} deselected: the end-to-end tests, which need a Docker engine; run them with ./inv test.e2e"
        )
    elif deselected:  # ./inv test.e2e's two halves, each deselecting the other's
        terminalreporter.write_line(f"{deselected} deselected: end-to-end tests the other half of ./inv test.e2e runs")
