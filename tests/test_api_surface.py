"""What a newcomer sees first: the API root, the schema's paths, and docs that work offline."""

import pytest


@pytest.mark.django_db
def test_the_api_root_answers_with_links_that_answer(api):
    response = api.get("/api/v1/")
    assert response.status_code == 200
    links = response.json()
    assert {"products", "login", "cart", "docs", "health"} <= set(links)
    for name in ("products", "categories", "docs", "schema", "health"):
        assert api.get(links[name]).status_code == 200, name


@pytest.mark.django_db
def test_each_cart_item_path_lists_only_the_method_it_takes(api):
    paths = api.get("/api/v1/schema/", HTTP_ACCEPT="application/json").json()["paths"]
    assert set(paths["/api/v1/cart/update/{item_id}/"]) - {"parameters"} == {"put"}
    assert set(paths["/api/v1/cart/remove/{item_id}/"]) - {"parameters"} == {"delete"}


@pytest.mark.django_db
def test_the_wrong_method_on_a_cart_item_path_is_405(auth):
    assert auth.delete("/api/v1/cart/update/1/").status_code == 405
    assert auth.put("/api/v1/cart/remove/1/", {"quantity": 1}, format="json").status_code == 405


@pytest.mark.django_db
def test_the_docs_page_loads_nothing_from_another_host(api):
    page = api.get("/api/v1/docs/").content.decode()
    assert "googleapis" not in page
    assert "cdn." not in page
    assert api.get("/api/v1/redoc/").status_code == 404
