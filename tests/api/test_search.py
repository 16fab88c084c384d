"""Product search (catalog/search.py): what a shopper types finds what they mean, best first.

On both databases: every word must match, each as the start of a word; products whose name
holds the words come first; search, filters and ordering combine. On PostgreSQL also: English
stemming, one typo forgiven, a product's whole name finds that product first, the index used.
"""

import pytest
from django.db import connection

from catalog.models import Category, Product

pytestmark = pytest.mark.django_db

PRODUCTS = "/api/v1/products/"


@pytest.fixture
def rice(make_product):
    grains = Category.objects.create(name="Grains", slug="grains")
    return {
        "desi": make_product("Desi Farms Basmati Rice 5 kg", price="640.00", category=grains,
                             description="Long grain basmathi chawal, aged two years."),
        "kaveri": make_product("Kaveri Organic Basmati Rice 1 kg", price="180.00", category=grains,
                               description="Certified organic."),
        "dal": make_product("Chana Dal 1 kg", price="120.00", description="Goes well with basmati rice."),
        "flour": make_product("Rice Flour 500 g", price="45.00", category=grains, description="For crisp dosa."),
        "chips": make_product("Potato Chips", price="20.00", description="Salted."),
    }  # fmt: skip


def names(api, **params) -> list[str]:
    response = api.get(PRODUCTS, params)
    assert response.status_code == 200, response.content
    return [p["name"] for p in response.json()["results"]]


def test_every_word_must_match_each_as_the_start_of_a_word(api, rice):
    assert set(names(api, search="bas ric")) == {
        "Desi Farms Basmati Rice 5 kg",
        "Kaveri Organic Basmati Rice 1 kg",
        "Chana Dal 1 kg",
    }
    assert names(api, search="rice dosa") == ["Rice Flour 500 g"]
    assert names(api, search="rice tea") == []


def test_products_whose_name_holds_the_words_come_first(api, rice):
    found = names(api, search="basmati rice")
    assert set(found[:2]) == {"Desi Farms Basmati Rice 5 kg", "Kaveri Organic Basmati Rice 1 kg"}
    assert found[2:] == ["Chana Dal 1 kg"]  # only its description says it


def test_search_filters_and_ordering_combine(api, rice):
    assert names(api, search="rice", category="grains", ordering="price") == [
        "Rice Flour 500 g",
        "Kaveri Organic Basmati Rice 1 kg",
        "Desi Farms Basmati Rice 5 kg",
    ]
    assert names(api, search="basmati", max_price="200") == ["Kaveri Organic Basmati Rice 1 kg", "Chana Dal 1 kg"]


def test_a_search_answers_the_lists_shape_and_count(api, rice):
    plain = api.get(PRODUCTS).json()
    searched = api.get(PRODUCTS, {"search": "basmati"}).json()
    assert searched.keys() == plain.keys()
    assert searched["results"][0].keys() == plain["results"][0].keys()
    assert searched["count"] == 3


def test_punctuation_alone_finds_nothing_and_fails_nothing(api, rice):
    assert names(api, search="&|!:*()'") == []


@pytest.mark.postgres("stemming is PostgreSQL's full-text search")
def test_words_are_stemmed(api, rice):
    assert names(api, search="potatoes") == ["Potato Chips"]
    assert names(api, search="aging") == ["Desi Farms Basmati Rice 5 kg"]  # "aged"


@pytest.mark.postgres("typos are forgiven by PostgreSQL's full-text index only")
def test_one_typo_is_forgiven(api, rice):
    assert set(names(api, search="bamsati")) == {
        "Desi Farms Basmati Rice 5 kg",
        "Kaveri Organic Basmati Rice 1 kg",
        "Chana Dal 1 kg",
    }
    assert names(api, search="desi frams bamsati")[0] == "Desi Farms Basmati Rice 5 kg"
    assert names(api, search="ptoato chisp") == ["Potato Chips"]
    assert names(api, search="xqzvw") == []  # nothing one typo away either


@pytest.mark.postgres("ranking is PostgreSQL's full-text search")
def test_a_products_whole_name_finds_it_first_among_its_like(api, make_product):
    for name in ("Green Valley Idli Batter 1 kg Pack of 2", "Green Valley Organic Idli Batter 1 kg",
                 "Green Valley Idli Batter 10 kg", "Green Valley Idli Batter 1 kg"):  # fmt: skip
        make_product(name, description="Idli batter, certified organic.")
    assert names(api, search="Green Valley Idli Batter 1 kg")[0] == "Green Valley Idli Batter 1 kg"
    assert names(api, search="Green Valley Organic Idli Batter 1 kg")[0] == "Green Valley Organic Idli Batter 1 kg"
    assert names(api, search="batter idli valley green 10")[0] == "Green Valley Idli Batter 10 kg"


@pytest.mark.postgres("the GIN index is PostgreSQL's")
def test_the_search_uses_its_index(rice):
    from catalog import search

    queryset = search.matching(Product.objects.all(), ["basmati", "rice"])
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # a five-row table would be scanned otherwise
        plan = queryset.explain()
    assert "catalog_product_search" in plan, plan


def test_words_are_letters_digits_and_marks_each_once():
    from catalog.search import words

    assert words("Basmati-Rice, 5kg! rice") == ["basmati", "rice", "5kg"]
    assert words("बासमती चावल") == ["बासमती", "चावल"]  # vowel signs are marks: one word each, not four pieces
    assert words("&|!:*()'<>") == []


def test_the_word_bound_counts_the_words_the_search_sees(api, rice):
    dotted = ".".join(f"w{n}" for n in range(17))  # one term to a whitespace split, 17 words to the search
    response = api.get(PRODUCTS, {"search": dotted})
    assert response.status_code == 400
    assert response.json() == {"search": ["At most 16 words; this has 17."]}
    assert names(api, search=" ".join(["rice"] * 18)) != []  # one word, however often


@pytest.mark.postgres("typos are forgiven by PostgreSQL's full-text index only")
def test_at_most_two_words_of_a_search_are_corrected_and_stop_words_never(api, rice):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        assert names(api, search="bamsati ptoato chisp xqzvw yqzvw zqzvw") == []
    assert sum("AS candidate" in q["sql"] for q in queries.captured_queries) == 2
    with CaptureQueriesContext(connection) as queries:
        names(api, search="rice with xqzvw")
    assert sum("AS candidate" in q["sql"] for q in queries.captured_queries) == 1  # xqzvw's, not with's
