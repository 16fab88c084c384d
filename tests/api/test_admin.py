"""The admin's pages carry a Content-Security-Policy that they work under."""

import re

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def policy(response) -> dict[str, str]:
    header = response.headers.get("Content-Security-Policy", "")
    return dict(part.strip().split(" ", 1) for part in header.split(";") if part.strip())


def assert_works_under_the_policy(response) -> None:
    """Nothing the policy refuses: no inline script, inline style or event handler."""
    html = response.content.decode()
    assert not re.search(r"<script(?![^>]*\ssrc=)[^>]*>", html), "an inline <script>"
    assert not re.search(r"<style|\sstyle=|\son[a-z]+=", html), "an inline style or event handler"


def test_the_admin_login_page_carries_a_strict_content_security_policy(client):
    response = client.get("/admin/login/")
    assert response.status_code == 200
    assert policy(response)["default-src"] == "'self'"
    assert policy(response)["frame-ancestors"] == "'none'"
    assert policy(response)["form-action"] == "'self'"
    assert_works_under_the_policy(response)


@pytest.mark.parametrize("path", ["/admin/", "/admin/catalog/product/add/", "/admin/support/ticket/"])
def test_every_admin_page_carries_it_and_works_under_it(staff, path):
    staff.is_superuser = True
    staff.save()
    client = Client()
    client.force_login(staff)
    response = client.get(path)
    assert response.status_code == 200
    assert policy(response)["default-src"] == "'self'"
    assert_works_under_the_policy(response)


def test_the_admins_redirects_and_404s_carry_it_too(client):
    assert "frame-ancestors" in policy(client.get("/admin/"))  # to the login page
    assert "frame-ancestors" in policy(client.get("/admin/no-such-page/"))
