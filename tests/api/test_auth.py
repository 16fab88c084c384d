import time

import pytest
from django.contrib.auth.hashers import MD5PasswordHasher
from django.core import mail
from rest_framework.test import APIClient
from rest_framework.throttling import ScopedRateThrottle
from rest_framework_simplejwt.tokens import BlacklistMixin

from accounts.tasks import send_account_exists_notice
from tests.helpers import PASSWORD, race

pytestmark = pytest.mark.django_db

REGISTER = "/api/v1/auth/register/"
LOGIN = "/api/v1/auth/login/"
REFRESH = "/api/v1/auth/token/refresh/"
PASSWORD_CHANGE = "/api/v1/auth/password/"


def register(api, **overrides):
    payload = {"email": "Ravi@Example.com", "password": PASSWORD, "first_name": "Ravi", "last_name": "Kumar"}
    return api.post(REGISTER, {**payload, **overrides}, format="json")


def test_register_creates_user_without_echoing_password(api, django_user_model):
    response = register(api)
    assert response.status_code == 201
    assert response.json()["email"] == "ravi@example.com"
    assert "password" not in response.json()
    assert django_user_model.objects.get(email="ravi@example.com").check_password(PASSWORD)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"email": "not-an-email"}, "email"),
        ({"password": "short"}, "password"),
        ({"password": "12345678901"}, "password"),
        ({"first_name": ""}, "first_name"),
        ({"last_name": None}, "last_name"),
    ],
)
def test_register_rejects_bad_input_with_field_messages(api, overrides, field):
    response = register(api, **overrides)
    assert response.status_code == 400
    assert field in response.json()


def test_registering_a_known_address_answers_as_for_a_new_one_and_mails_its_owner(api, make_user, django_user_model):
    owner = make_user("ravi@example.com", first_name="Ravi")
    new = register(api, email="meera@example.com", first_name="Meera", last_name="Iyer")
    known = register(api, email="RAVI@example.com", password="Another-str0ng-pass", first_name="Imposter")

    assert (new.status_code, known.status_code) == (201, 201)
    assert new.json() == {"email": "meera@example.com", "first_name": "Meera", "last_name": "Iyer"}
    assert known.json() == {"email": "ravi@example.com", "first_name": "Imposter", "last_name": "Kumar"}
    assert django_user_model.objects.filter(email__iexact="ravi@example.com").count() == 1
    owner.refresh_from_db()
    assert (owner.first_name, owner.check_password(PASSWORD)) == ("Ravi", True)  # nothing about it changed
    assert [(m.to, m.subject) for m in mail.outbox] == [
        (["ravi@example.com"], "You already have a DesiDeliver account")
    ]


def test_both_register_answers_cost_one_password_hash(api, make_user, monkeypatch):
    make_user("ravi@example.com")
    hashes = []
    encode = MD5PasswordHasher.encode
    monkeypatch.setattr(MD5PasswordHasher, "encode", lambda self, *a: hashes.append(1) or encode(self, *a))
    register(api, email="meera@example.com")
    register(api, email="ravi@example.com")
    assert len(hashes) == 2


def test_the_owner_of_a_known_address_is_mailed_at_most_once_an_hour(api, make_user):
    make_user("ravi@example.com")
    assert {register(api, email="ravi@example.com").status_code for _ in range(3)} == {201}
    assert len(mail.outbox) == 1


def test_a_broker_outage_does_not_change_the_answer_for_a_known_address(api, make_user, monkeypatch):
    make_user("ravi@example.com")

    def broker_down(*args, **kwargs):
        raise ConnectionError("Error 111 connecting to redis:6379. Connection refused.")

    monkeypatch.setattr(send_account_exists_notice, "apply_async", broker_down)
    response = register(api, email="ravi@example.com")
    assert response.status_code == 201
    assert response.json()["email"] == "ravi@example.com"


@pytest.mark.postgres("parallel writers: SQLite serialises them")
@pytest.mark.django_db(transaction=True)
def test_parallel_registrations_of_one_address_make_one_account_and_both_answer_201(django_user_model):
    statuses = race(*[lambda: register(APIClient(), email="twice@example.com").status_code] * 2)
    assert statuses == [201, 201]
    assert django_user_model.objects.filter(email="twice@example.com").count() == 1
    assert len(mail.outbox) == 1  # the one that lost tells the owner, as for any known address


def test_register_rejects_non_json_body(api):
    response = api.post(REGISTER, "email=x", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415


def test_login_returns_tokens_that_authenticate_me(api, user):
    tokens = api.post(LOGIN, {"email": user.email, "password": PASSWORD}, format="json").json()
    assert {"access", "refresh"} <= tokens.keys()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
    me = api.get("/api/v1/auth/me/")
    assert me.status_code == 200
    assert me.json()["email"] == user.email


def test_login_with_wrong_password_is_401(api, user):
    response = api.post(LOGIN, {"email": user.email, "password": "wrong"}, format="json")
    assert response.status_code == 401


def test_refresh_issues_new_access_token(api, user):
    refresh = api.post(LOGIN, {"email": user.email, "password": PASSWORD}, format="json").json()["refresh"]
    response = api.post("/api/v1/auth/token/refresh/", {"refresh": refresh}, format="json")
    assert response.status_code == 200
    assert response.json()["access"]


def test_refresh_with_garbage_token_is_401(api):
    response = api.post("/api/v1/auth/token/refresh/", {"refresh": "garbage"}, format="json")
    assert response.status_code == 401


def test_me_requires_authentication(api):
    response = api.get("/api/v1/auth/me/")
    assert response.status_code == 401
    assert "detail" in response.json()


def test_me_with_malformed_bearer_is_401(api):
    api.credentials(HTTP_AUTHORIZATION="Bearer not.a.jwt")
    assert api.get("/api/v1/auth/me/").status_code == 401


def test_login_is_throttled(api, user, monkeypatch):
    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", {"auth": "3/minute"})
    statuses = [
        api.post(LOGIN, {"email": user.email, "password": "wrong"}, format="json").status_code for _ in range(5)
    ]
    assert statuses[:3] == [401, 401, 401]
    assert statuses[3:] == [429, 429]


@pytest.mark.parametrize("proxies", [0, 1])
def test_the_throttle_keys_on_the_client_address_not_a_forged_forwarded_for(api, user, monkeypatch, settings, proxies):
    # Behind nginx (NUM_PROXIES=1) only the address nginx saw counts; without a proxy, only the peer's.
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": proxies}
    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", {"auth": "3/minute"})
    statuses = [
        api.post(
            LOGIN,
            {"email": user.email, "password": "wrong"},
            format="json",
            HTTP_X_FORWARDED_FOR=f"10.9.9.{i}, 203.0.113.7",  # a forged prefix, then what nginx appended
        ).status_code
        for i in range(5)
    ]
    assert statuses[3:] == [429, 429]


def login(api, email: str, password: str = PASSWORD) -> dict:
    response = api.post(LOGIN, {"email": email, "password": password}, format="json")
    assert response.status_code == 200, response.json()
    return response.json()


def test_login_ignores_the_case_of_the_email(api):
    register(api)  # stored as ravi@example.com
    assert login(api, "RAVI@example.COM")["access"]


def test_a_refresh_token_works_once_and_its_successor_works(api, user):
    first = login(api, user.email)["refresh"]
    rotated = api.post(REFRESH, {"refresh": first}, format="json")
    assert rotated.status_code == 200
    assert rotated.json()["refresh"] != first
    assert api.post(REFRESH, {"refresh": first}, format="json").status_code == 401
    assert api.post(REFRESH, {"refresh": rotated.json()["refresh"]}, format="json").status_code == 200


def test_logout_makes_the_refresh_token_useless(api, user):
    tokens = login(api, user.email)
    assert api.post("/api/v1/auth/logout/", {"refresh": tokens["refresh"]}, format="json").status_code == 200
    assert api.post(REFRESH, {"refresh": tokens["refresh"]}, format="json").status_code == 401


def test_a_password_change_revokes_every_earlier_token(api, user):
    old = login(api, user.email)
    other_device = login(api, user.email)
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {old['access']}")
    wrong = api.post(PASSWORD_CHANGE, {"current_password": "nope", "new_password": "An0ther-str0ng-one"}, format="json")
    assert wrong.status_code == 400
    changed = api.post(
        PASSWORD_CHANGE, {"current_password": PASSWORD, "new_password": "An0ther-str0ng-one"}, format="json"
    )
    assert changed.status_code == 204
    assert api.get("/api/v1/auth/me/").status_code == 401  # the old access token
    api.credentials()
    for tokens in (old, other_device):
        assert api.post(REFRESH, {"refresh": tokens["refresh"]}, format="json").status_code == 401
    assert login(api, user.email, "An0ther-str0ng-one")["access"]


def test_a_password_changed_elsewhere_revokes_tokens_too(api, user):
    tokens = login(api, user.email)
    user.set_password("Admin-set-new-pass-1")
    user.save()  # e.g. the admin or manage.py changepassword
    assert api.post(REFRESH, {"refresh": tokens["refresh"]}, format="json").status_code == 401


def test_refreshing_a_deleted_users_token_is_401_not_500(api, user):
    refresh = login(api, user.email)["refresh"]
    user.delete()
    response = api.post(REFRESH, {"refresh": refresh}, format="json")
    assert response.status_code == 401


def test_a_body_nested_too_deeply_is_a_400_not_a_500(api):
    response = api.post(LOGIN, "[" * 100_000 + "]" * 100_000, content_type="application/json")
    assert response.status_code == 400
    assert response.json() == {"detail": "JSON parse error - nested too deeply."}


LOGOUT = "/api/v1/auth/logout/"
ME = "/api/v1/auth/me/"


def me(token: str) -> int:
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client.get(ME).status_code


def test_logout_ends_the_sessions_access_tokens_at_once_and_no_other_session(api, user):
    session = login(api, user.email)
    other_device = login(api, user.email)
    refreshed = api.post(REFRESH, {"refresh": session["refresh"]}, format="json").json()
    assert me(session["access"]) == me(refreshed["access"]) == 200
    assert api.post(LOGOUT, {"refresh": refreshed["refresh"]}, format="json").status_code == 200
    assert me(session["access"]) == 401  # minted before the refresh: the same session
    assert me(refreshed["access"]) == 401
    assert me(other_device["access"]) == 200
    assert me(login(api, user.email)["access"]) == 200  # logging in again starts a new session


def test_an_ended_session_says_so(api, user):
    tokens = login(api, user.email)
    api.post(LOGOUT, {"refresh": tokens["refresh"]}, format="json")
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
    response = api.get(ME)
    assert response.status_code == 401
    assert response.json() == {"detail": "This session was logged out; log in again.", "code": "session_ended"}


def test_a_deactivated_users_access_token_is_refused_at_once(api, user):
    tokens = login(api, user.email)
    assert me(tokens["access"]) == 200
    user.is_active = False
    user.save()
    assert me(tokens["access"]) == 401


def test_an_authenticated_request_reads_the_cache_once_and_once_its_user_is_cached_not_the_database(
    api, user, monkeypatch, django_assert_num_queries
):
    from django.core.cache import caches

    tokens = login(api, user.email)
    revocations, reads, inside = caches["revocations"], [], []
    real_get, real_get_many = revocations.get, revocations.get_many

    def get(*args, **kwargs):
        if not inside:  # the in-memory cache's get_many calls get per key; Redis's is one MGET
            reads.append(args)
        return real_get(*args, **kwargs)

    def get_many(*args, **kwargs):
        reads.append(args)
        inside.append(1)
        try:
            return real_get_many(*args, **kwargs)
        finally:
            inside.pop()

    monkeypatch.setattr(revocations, "get", get)
    monkeypatch.setattr(revocations, "get_many", get_many)
    assert me(tokens["access"]) == 200  # reads the user from the database, and keeps it
    assert len(reads) == 1
    with django_assert_num_queries(0):
        assert me(tokens["access"]) == 200
    assert len(reads) == 2


def test_a_user_changed_past_the_orm_is_seen_within_user_cache_seconds(api, user, settings):
    from django.contrib.auth import get_user_model

    settings.USER_CACHE_SECONDS = 1
    tokens = login(api, user.email)
    assert me(tokens["access"]) == 200
    get_user_model().objects.filter(pk=user.pk).update(is_active=False)  # no signal: the cached copy stands
    assert me(tokens["access"]) == 200
    time.sleep(1.1)
    assert me(tokens["access"]) == 401


def test_a_deleted_users_access_token_is_refused_at_once(api, user):
    tokens = login(api, user.email)
    assert me(tokens["access"]) == 200
    user.delete()
    assert me(tokens["access"]) == 401


def test_a_refresh_that_read_the_blacklist_before_another_refresh_wrote_it_is_401(api, user, monkeypatch):
    token = login(api, user.email)["refresh"]
    assert api.post(REFRESH, {"refresh": token}, format="json").status_code == 200
    # A refresh racing that one checked the blacklist just before the winner's row was written.
    monkeypatch.setattr(BlacklistMixin, "check_blacklist", lambda self: None)
    response = api.post(REFRESH, {"refresh": token}, format="json")
    assert response.status_code == 401
    assert response.json()["code"] == "token_not_valid"


@pytest.mark.postgres("parallel writers: SQLite serialises them")
@pytest.mark.django_db(transaction=True)
def test_of_parallel_refreshes_of_one_token_exactly_one_succeeds(api, user):
    token = login(api, user.email)["refresh"]
    statuses = race(*[lambda: APIClient().post(REFRESH, {"refresh": token}, format="json").status_code] * 8)
    assert sorted(statuses) == [200] + [401] * 7


def test_a_logout_the_session_store_does_not_take_is_a_503_and_the_refresh_token_still_works(api, user, monkeypatch):
    from django.core.cache import caches

    tokens = login(api, user.email)
    monkeypatch.setattr(caches["revocations"], "set", lambda *a, **k: None)  # Redis down: the write is dropped
    response = api.post(LOGOUT, {"refresh": tokens["refresh"]}, format="json")
    assert response.status_code == 503
    assert me(tokens["access"]) == 200  # nothing was ended, and the client was told so
    monkeypatch.undo()
    assert api.post(LOGOUT, {"refresh": tokens["refresh"]}, format="json").status_code == 200  # the retry works
    assert me(tokens["access"]) == 401


def test_the_cached_user_holds_no_password_hash(api, user):
    from django.core.cache import caches

    from accounts import user_cache

    assert me(login(api, user.email)["access"]) == 200
    row = caches["revocations"].get(user_cache.key(user.pk))
    assert "password" not in row
    assert row["email"] == user.email


def test_a_row_read_before_a_change_is_not_cached_after_it(api, user, django_capture_on_commit_callbacks):
    """The race a review found: a request read the row, an admin deactivated the user, the request then
    cached what it read. The change's tombstone refuses it."""
    from django.contrib.auth import get_user_model

    from accounts import user_cache

    tokens = login(api, user.email)
    before = get_user_model().objects.get(pk=user.pk)  # a request's read, still in flight
    with django_capture_on_commit_callbacks(execute=True):
        user.is_active = False
        user.save()
    user_cache.keep(user.pk, before)  # too late: refused
    assert me(tokens["access"]) == 401


def test_a_delete_inside_a_transaction_drops_the_right_user_after_the_commit(
    api, user, django_capture_on_commit_callbacks
):
    from django.core.cache import caches
    from django.db import transaction

    from accounts import user_cache

    tokens = login(api, user.email)
    assert me(tokens["access"]) == 200
    user_id = user.pk
    with django_capture_on_commit_callbacks(execute=True) as callbacks, transaction.atomic():
        user.delete()
    assert callbacks
    assert caches["revocations"].get(user_cache.key(user_id)) == user_cache.TOMBSTONE
    assert me(tokens["access"]) == 401


def test_a_password_change_writes_the_password_only_not_a_cached_copys_stale_columns(api, user):
    from django.contrib.auth import get_user_model

    tokens = login(api, user.email)
    assert me(tokens["access"]) == 200  # now cached
    get_user_model().objects.filter(pk=user.pk).update(first_name="Changed-by-admin")
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
    changed = api.post(
        PASSWORD_CHANGE, {"current_password": PASSWORD, "new_password": "An0ther-str0ng-one"}, format="json"
    )
    assert changed.status_code == 204
    assert get_user_model().objects.get(pk=user.pk).first_name == "Changed-by-admin"


def test_a_store_that_does_not_answer_is_not_written_to_as_well(api, user, monkeypatch):
    """A stalled broker costs the cache's socket timeout per call: the read already paid it once, so
    the user read from the database is not written back to it (which would cost the request as much again)."""
    from django.core.cache import caches

    tokens = login(api, user.email)
    revocations, writes = caches["revocations"], []

    def stalled_get_many(keys, *args, **kwargs):
        time.sleep(0.3)  # past SLOW_READ_SECONDS, as a timed-out call returns (the cache ignores errors)
        return {}

    monkeypatch.setattr(revocations, "get_many", stalled_get_many)
    monkeypatch.setattr(revocations, "add", lambda *a, **k: writes.append(a))
    assert me(tokens["access"]) == 200  # the database still answers who it is
    assert writes == []
