"""What a newcomer sees first: the API root, the schema's paths, and docs that work offline."""

import pytest


@pytest.mark.django_db
def test_the_api_root_answers_with_links_that_answer(api, settings):
    settings.API_DOCS = "public"
    response = api.get("/api/v1/")
    assert response.status_code == 200
    links = response.json()
    assert {"products", "login", "cart", "docs", "health"} <= set(links)
    for name in ("products", "categories", "docs", "schema", "health"):
        assert api.get(links[name]).status_code == 200, name


@pytest.mark.django_db
def test_each_cart_item_path_lists_only_the_method_it_takes(staff_client):
    paths = staff_client.get("/api/v1/schema/", HTTP_ACCEPT="application/json").json()["paths"]
    assert set(paths["/api/v1/cart/update/{item_id}/"]) - {"parameters"} == {"put"}
    assert set(paths["/api/v1/cart/remove/{item_id}/"]) - {"parameters"} == {"delete"}


@pytest.mark.django_db
def test_the_wrong_method_on_a_cart_item_path_is_405(auth):
    assert auth.delete("/api/v1/cart/update/1/").status_code == 405
    assert auth.put("/api/v1/cart/remove/1/", {"quantity": 1}, format="json").status_code == 405


@pytest.mark.django_db
def test_the_docs_page_loads_nothing_from_another_host(api, settings):
    settings.API_DOCS = "public"
    page = api.get("/api/v1/docs/").content.decode()
    assert "googleapis" not in page
    assert "cdn." not in page
    assert api.get("/api/v1/redoc/").status_code == 404


@pytest.mark.django_db
@pytest.mark.parametrize("debug", [True, False])
def test_unknown_api_urls_answer_json_even_with_debug_on(api, settings, debug):
    settings.DEBUG = debug
    response = api.get("/api/v1/no-such-thing/")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": "Not found."}
    assert api.get("/api/nothing-here").json() == {"detail": "Not found."}


@pytest.mark.django_db
def test_a_wrong_method_answers_json_with_the_allowed_ones(api):
    response = api.delete("/api/v1/products/")
    assert response.status_code == 405
    assert response.json()["detail"]
    assert "GET" in response["Allow"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("setting", "anonymous", "customer", "staff_member"),
    [("public", 200, 200, 200), ("staff", 403, 403, 200), ("off", 404, 404, 404)],
)
def test_api_docs_decides_who_reads_the_schema_and_docs(
    api, auth, staff_client, settings, setting, anonymous, customer, staff_member
):
    settings.API_DOCS = setting
    for path in ("/api/v1/schema/", "/api/v1/docs/"):
        assert api.get(path).status_code == anonymous, path
        assert auth.get(path).status_code == customer, path
        assert staff_client.get(path).status_code == staff_member, path
