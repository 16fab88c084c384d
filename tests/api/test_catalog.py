import pytest
from django.core.cache import cache

from catalog import cache as catalog_cache
from catalog.models import Category, Product

pytestmark = pytest.mark.django_db

PRODUCTS = "/api/v1/products/"


@pytest.fixture
def shelf(make_product):
    dals = Category.objects.create(name="Dals", slug="dals")
    return {
        "masala": make_product("Garam Masala", price="85.00", stock=10, description="warm spice blend"),
        "chilli": make_product("Chilli Powder", price="40.00", stock=0),
        "dal": make_product("Toor Dal", price="165.00", stock=5, category=dals),
        "hidden": make_product("Retired Item", price="10.00", stock=3, is_active=False),
    }


def names(response) -> list[str]:
    return [p["name"] for p in response.json()["results"]]


def test_list_is_public_paginated_and_hides_inactive(api, shelf):
    body = api.get(PRODUCTS).json()
    assert body["count"] == 3
    assert {"next", "previous", "results"} <= body.keys()
    assert "Retired Item" not in [p["name"] for p in body["results"]]


def test_page_size_and_pages(api, make_product):
    for i in range(25):
        make_product(f"Item {i:02d}")
    first = api.get(PRODUCTS, {"page_size": 10}).json()
    assert len(first["results"]) == 10
    assert first["next"]
    assert len(api.get(PRODUCTS, {"page": 3, "page_size": 10}).json()["results"]) == 5


def test_page_out_of_range_is_404(api, shelf):
    assert api.get(PRODUCTS, {"page": 99}).status_code == 404


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"category": "dals"}, ["Toor Dal"]),
        ({"min_price": "50"}, ["Garam Masala", "Toor Dal"]),
        ({"max_price": "50"}, ["Chilli Powder"]),
        ({"min_price": "50", "max_price": "100"}, ["Garam Masala"]),
        ({"in_stock": "true"}, ["Garam Masala", "Toor Dal"]),
        ({"in_stock": "false"}, ["Chilli Powder"]),
        ({"search": "spice blend"}, ["Garam Masala"]),
        ({"search": "dal"}, ["Toor Dal"]),
        ({"ordering": "-price"}, ["Toor Dal", "Garam Masala", "Chilli Powder"]),
        ({"ordering": "price"}, ["Chilli Powder", "Garam Masala", "Toor Dal"]),
    ],
)
def test_filters_search_and_ordering(api, shelf, params, expected):
    response = api.get(PRODUCTS, params)
    assert response.status_code == 200
    got = names(response)
    assert got == expected if "ordering" in params else sorted(got) == sorted(expected)


def test_category_filter_accepts_id(api, shelf):
    assert names(api.get(PRODUCTS, {"category": shelf["dal"].category_id})) == ["Toor Dal"]


@pytest.mark.parametrize("params", [{"min_price": "abc"}, {"max_price": "1e999x"}, {"in_stock": "maybe"}])
def test_bad_filter_values_are_400_naming_the_filter(api, shelf, params):
    response = api.get(PRODUCTS, params)
    assert response.status_code == 400
    assert set(params) <= response.json().keys()


def test_bad_page_size_falls_back_to_default(api, shelf):
    assert api.get(PRODUCTS, {"page_size": "x"}).status_code == 200


def test_detail_and_missing_product(api, shelf):
    assert api.get(f"{PRODUCTS}{shelf['dal'].pk}/").json()["category"]["slug"] == "dals"
    assert api.get(f"{PRODUCTS}{shelf['hidden'].pk}/").status_code == 404
    assert api.get(f"{PRODUCTS}999999/").status_code == 404


def test_categories_list(api, shelf):
    slugs = [c["slug"] for c in api.get("/api/v1/categories/").json()["results"]]
    assert slugs == ["dals", "spices"]


def test_second_list_request_is_served_from_cache(api, shelf, django_assert_num_queries):
    api.get(PRODUCTS)
    with django_assert_num_queries(0):
        assert api.get(PRODUCTS).status_code == 200


def test_cache_key_ignores_parameter_order(api, shelf, django_assert_num_queries):
    api.get(PRODUCTS, {"min_price": "1", "ordering": "price"})
    with django_assert_num_queries(0):
        api.get(f"{PRODUCTS}?ordering=price&min_price=1")


def test_cache_is_invalidated_when_a_product_changes(api, shelf, django_capture_on_commit_callbacks):
    assert api.get(PRODUCTS, {"search": "masala"}).json()["results"][0]["price"] == "85.00"
    with django_capture_on_commit_callbacks(execute=True):
        shelf["masala"].price = "99.00"
        shelf["masala"].save()
    assert api.get(PRODUCTS, {"search": "masala"}).json()["results"][0]["price"] == "99.00"


def test_cache_is_invalidated_when_a_product_is_deleted(api, shelf, django_capture_on_commit_callbacks):
    assert api.get(PRODUCTS).json()["count"] == 3
    with django_capture_on_commit_callbacks(execute=True):
        Product.objects.get(pk=shelf["chilli"].pk).delete()
    assert api.get(PRODUCTS).json()["count"] == 2


def test_product_detail_is_cached_and_invalidated_like_lists(
    api, shelf, django_assert_num_queries, django_capture_on_commit_callbacks
):
    url = f"{PRODUCTS}{shelf['masala'].pk}/"
    first = api.get(url)
    assert first.status_code == 200
    with django_assert_num_queries(0):
        again = api.get(url)
    assert again.json() == first.json()
    assert again["Content-Type"] == "application/json"
    with django_capture_on_commit_callbacks(execute=True):
        shelf["masala"].stock = 0
        shelf["masala"].save()
    assert api.get(url).json()["in_stock"] is False


def test_a_missing_product_is_not_cached(api, shelf):
    assert api.get(f"{PRODUCTS}999999/").status_code == 404
    Product.objects.create(pk=999999, category=shelf["masala"].category, name="New", slug="new", price="1.00")
    assert api.get(f"{PRODUCTS}999999/").status_code == 200


def test_cached_pagination_links_belong_to_the_host_that_asked(api, shelf):
    first = api.get(PRODUCTS, {"page_size": 1}, HTTP_HOST="localhost").json()["next"]
    second = api.get(PRODUCTS, {"page_size": 1}, HTTP_HOST="127.0.0.1").json()["next"]
    assert first.startswith("http://localhost/")
    assert second.startswith("http://127.0.0.1/")


def test_each_process_rereads_the_catalogue_version_at_most_once_a_second(settings, monkeypatch):
    settings.CATALOG_VERSION_SECONDS = 1.0
    clock = [100.0]
    monkeypatch.setattr(catalog_cache.time, "monotonic", lambda: clock[0])
    monkeypatch.setitem(catalog_cache._seen, "at", float("-inf"))
    cache.set(catalog_cache.VERSION_KEY, 7, timeout=None)
    assert catalog_cache.current_version() == 7
    cache.set(catalog_cache.VERSION_KEY, 8, timeout=None)  # another process changed the catalogue
    clock[0] += 0.5
    assert catalog_cache.current_version() == 7  # remembered: no round trip
    clock[0] += 0.6
    assert catalog_cache.current_version() == 8  # a second later, seen
    catalog_cache.invalidate()  # this process's own change shows at once
    assert catalog_cache.current_version() == 9


def test_categories_are_cached_until_a_category_changes(
    api, shelf, django_assert_num_queries, django_capture_on_commit_callbacks
):
    api.get("/api/v1/categories/")
    with django_assert_num_queries(0):
        assert len(api.get("/api/v1/categories/").json()["results"]) == 2
    with django_capture_on_commit_callbacks(execute=True):
        Category.objects.create(name="Sweets", slug="sweets")
    assert len(api.get("/api/v1/categories/").json()["results"]) == 3


def test_unknown_api_path_is_json_404(api):
    response = api.get("/api/v1/no-such-thing/")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


def test_junk_query_parameters_never_make_new_cache_entries(api, shelf, django_assert_num_queries):
    api.get("/api/v1/products/?in_stock=true")
    with django_assert_num_queries(0):
        for n in range(5):
            assert api.get(f"/api/v1/products/?in_stock=true&utm_junk={n}").status_code == 200


def test_a_search_is_cached_by_its_words_and_a_catalogue_change_is_seen(
    api, shelf, django_assert_num_queries, django_capture_on_commit_callbacks
):
    assert names(api.get(PRODUCTS, {"search": "Masala"})) == ["Garam Masala"]
    with django_assert_num_queries(0):  # the same words, cased and spaced otherwise: one entry
        assert names(api.get(PRODUCTS, {"search": "  masala "})) == ["Garam Masala"]
        assert names(api.get(PRODUCTS, {"search": "MASALA"})) == ["Garam Masala"]
    with django_capture_on_commit_callbacks(execute=True):
        Product.objects.create(
            name="Chaat Masala", slug="chaat-masala", price="30.00", category=shelf["masala"].category
        )
    assert names(api.get(PRODUCTS, {"search": "masala"})) == ["Chaat Masala", "Garam Masala"]


@pytest.mark.parametrize(
    ("search", "message"),
    [
        (" ".join(f"w{n}" for n in range(17)), "At most 16 words; this has 17."),
        ("masala " * 15, "At most 100 characters; this has 105."),
        (" ".join(f"w{n}" for n in range(1001)), "At most 100 characters; this has 4895."),
    ],
)
def test_a_search_over_the_bounds_is_refused_before_any_query(api, shelf, search, message, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = api.get(PRODUCTS, {"search": search})
    assert response.status_code == 400
    assert response.json() == {"search": [message]}


def test_a_search_at_the_bounds_is_answered(api, shelf):
    response = api.get(PRODUCTS, {"search": "garam masala warm spice blend " + "x" * 60})
    assert response.status_code == 200
    assert names(api.get(PRODUCTS, {"search": "warm spice blend masala garam"})) == ["Garam Masala"]


def test_the_schema_states_the_search_bounds(staff_client):
    schema = staff_client.get("/api/v1/schema/?format=json").json()
    search = next(p for p in schema["paths"]["/api/v1/products/"]["get"]["parameters"] if p["name"] == "search")
    assert search["schema"]["maxLength"] == 100
    assert "at most 16 words, 100 characters" in search["description"]


@pytest.mark.postgres("statement_timeout and JIT are PostgreSQL settings")
def test_the_app_connects_with_a_statement_timeout_and_jit_off():
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        assert cursor.fetchone()[0] == "5s"
        cursor.execute("SHOW jit")
        assert cursor.fetchone()[0] == "off"


@pytest.mark.postgres("statement_timeout is a PostgreSQL setting")
@pytest.mark.django_db(transaction=True)
def test_a_query_the_server_cancels_answers_503_naming_no_internals(api, shelf, monkeypatch):
    from django.db import connection

    from catalog import views

    filtered = views.ProductViewSet.filter_queryset

    def slow(self, queryset):
        return filtered(self, queryset).extra(where=["pg_sleep(0.5) IS NOT NULL"])

    monkeypatch.setattr(views.ProductViewSet, "filter_queryset", slow)
    with connection.cursor() as cursor:
        cursor.execute("SET statement_timeout = '100ms'")
    try:
        response = api.get(PRODUCTS, {"search": "masala"})
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET statement_timeout")
    assert response.status_code == 503
    assert response.json() == {"detail": "The request took too long and was stopped; try again, or narrow the search."}
    assert api.get(PRODUCTS, {"search": "dal"}).status_code == 200  # the connection is usable again


@pytest.mark.postgres("statement_timeout is a PostgreSQL setting")
@pytest.mark.django_db(transaction=True)
def test_migrations_and_bulk_loads_run_free_of_the_statement_timeout():
    from django.db import connection

    from core.db import long_transaction

    with long_transaction(), connection.cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        assert cursor.fetchone()[0] == "0"
    with connection.cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        assert cursor.fetchone()[0] == "5s"  # back to the bound once the transaction ends


@pytest.mark.parametrize("value", ["²", "9" * 100, "٣"])
def test_a_category_of_other_digits_or_too_large_a_number_matches_nothing(api, shelf, value):
    response = api.get(PRODUCTS, {"category": value})
    assert response.status_code == 200
    assert response.json()["count"] == 0


def test_a_category_longer_than_any_slug_is_400_naming_the_filter(api, shelf):
    response = api.get(PRODUCTS, {"category": "9" * 4300})
    assert response.status_code == 400
    assert "category" in response.json()


def test_cached_links_never_carry_unknown_parameters(api, make_product):
    for n in range(3):
        make_product(f"Item {n}")
    body = api.get(PRODUCTS, {"page_size": 1, "in_stock": "true", "evil": "<script>", "ordering": "junk"}).json()
    assert body["next"] == "http://testserver/api/v1/products/?in_stock=true&page=2&page_size=1"
    served_to_others = api.get(PRODUCTS, {"page_size": 1, "in_stock": "true"}).json()
    assert served_to_others["next"] == body["next"]


def test_orderings_that_do_not_apply_share_one_cache_entry(api, shelf, django_assert_num_queries):
    api.get(PRODUCTS, {"ordering": "price"})
    with django_assert_num_queries(0):
        for n in range(5):
            assert api.get(PRODUCTS, {"ordering": f"price,junk{n}"}).status_code == 200
    assert names(api.get(PRODUCTS, {"ordering": "-price,junk"})) == ["Toor Dal", "Garam Masala", "Chilli Powder"]


def test_a_short_list_is_counted_exactly(api, shelf):
    body = api.get(PRODUCTS).json()
    assert (body["count"], body["count_is_estimate"]) == (3, False)


@pytest.mark.postgres("the estimate is PostgreSQL's planner's")
def test_a_long_list_shows_the_planners_estimate_and_pages_past_it_are_empty_not_missing(api, make_product, settings):
    from django.db import connection

    for n in range(60):
        make_product(f"Item {n:02d}")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE catalog_product")
    settings.ESTIMATED_COUNT_FROM = 50
    body = api.get(PRODUCTS, {"page_size": 20}).json()
    assert body["count_is_estimate"] is True
    assert 50 <= body["count"] <= 120  # the planner's figure, near the 60 rows
    assert len(body["results"]) == 20
    assert [p["name"] for p in api.get(PRODUCTS, {"page": 3, "page_size": 20}).json()["results"]][-1] == "Item 59"
    past = api.get(PRODUCTS, {"page": 4, "page_size": 20})
    assert past.status_code == 200
    assert past.json()["results"] == []
    for far in (50, 10**17):  # far past the estimate: no OFFSET past a bigint, no cache entry per page
        assert api.get(PRODUCTS, {"page": far, "page_size": 100}).status_code == 404
    settings.ESTIMATED_COUNT_FROM = 1000
    assert api.get(PRODUCTS, {"search": "item", "page_size": 20}).json()["count"] == 60  # counted again


def test_the_schema_says_whether_the_count_is_an_estimate(staff_client):
    schema = staff_client.get("/api/v1/schema/?format=json").json()
    page = schema["components"]["schemas"]["PaginatedProductList"]["properties"]
    assert page["count_is_estimate"]["type"] == "boolean"
