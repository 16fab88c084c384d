"""Cross-origin access for the allowed front ends only, and no model change without its migration."""

import pytest
from django.core.management import call_command

pytestmark = pytest.mark.django_db

PRODUCTS = "/api/v1/products/"


@pytest.fixture
def allowed(settings) -> str:
    settings.CORS_ALLOWED_ORIGINS = ["https://shop.example.com"]
    return "https://shop.example.com"


def test_an_allowed_origin_gets_the_cors_headers(api, allowed):
    response = api.get(PRODUCTS, HTTP_ORIGIN=allowed)
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == allowed


def test_a_preflight_from_an_allowed_origin_may_send_a_token(api, allowed):
    response = api.options(
        "/api/v1/cart/add/",
        HTTP_ORIGIN=allowed,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization, content-type",
    )
    assert response["Access-Control-Allow-Origin"] == allowed
    assert "authorization" in response["Access-Control-Allow-Headers"]


@pytest.mark.parametrize("origin", ["https://evil.example.net", "http://shop.example.com", "null"])
def test_any_other_origin_gets_none(api, allowed, origin):
    response = api.get(PRODUCTS, HTTP_ORIGIN=origin)
    assert response.status_code == 200  # the browser, not the server, withholds the body
    assert "Access-Control-Allow-Origin" not in response


def test_every_model_change_has_its_migration(capsys):
    try:
        call_command("makemigrations", "--check", "--dry-run", verbosity=1)
    except SystemExit:
        pytest.fail(f"a model changed without its migration; run ./inv db.makemigrations:\n{capsys.readouterr().out}")
