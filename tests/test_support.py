import pytest

from .conftest import client_for

pytestmark = pytest.mark.django_db

TICKETS = "/api/v1/tickets/"


@pytest.fixture
def order(auth, product):
    auth.post("/api/v1/cart/add/", {"product_id": product.pk, "quantity": 1}, format="json")
    return auth.post("/api/v1/orders/create/", {}, format="json").json()


def open_ticket(client, **extra):
    return client.post(TICKETS, {"subject": "Late delivery", "message": "Where is my order?", **extra}, format="json")


def test_user_opens_ticket_about_own_order_and_reads_it(auth, order):
    response = open_ticket(auth, order=order["id"])
    assert response.status_code == 201, response.content
    ticket = auth.get(f"{TICKETS}{response.json()['id']}/").json()
    assert ticket["order"] == order["id"]
    assert ticket["status"] == "open"
    assert [m["body"] for m in ticket["messages"]] == ["Where is my order?"]


def test_ticket_about_someone_elses_order_is_rejected(order, make_user):
    stranger = client_for(make_user("stranger@example.com"))
    response = open_ticket(stranger, order=order["id"])
    assert response.status_code == 400
    assert "order" in response.json()


@pytest.mark.parametrize("payload", [{"subject": ""}, {"message": ""}, {"subject": "x" * 201}, {"order": "abc"}])
def test_invalid_ticket_is_400(auth, payload):
    response = open_ticket(auth, **payload)
    assert response.status_code == 400
    assert set(payload) <= response.json().keys()


def test_users_see_only_their_tickets_staff_see_all_and_answer(auth, staff_client, make_user):
    mine = open_ticket(auth).json()["id"]
    other = client_for(make_user("other@example.com"))
    theirs = open_ticket(other, subject="Refund").json()["id"]

    assert [t["id"] for t in auth.get(TICKETS).json()["results"]] == [mine]
    assert auth.get(f"{TICKETS}{theirs}/").status_code == 404
    assert sorted(t["id"] for t in staff_client.get(TICKETS).json()["results"]) == sorted([mine, theirs])

    reply = staff_client.post(f"{TICKETS}{mine}/messages/", {"body": "On its way!"}, format="json")
    assert reply.status_code == 201
    assert reply.json()["from_staff"] is True
    ticket = auth.get(f"{TICKETS}{mine}/").json()
    assert ticket["status"] == "answered"
    assert [m["body"] for m in ticket["messages"]] == ["Where is my order?", "On its way!"]

    auth.post(f"{TICKETS}{mine}/messages/", {"body": "Thanks, still waiting"}, format="json")
    assert auth.get(f"{TICKETS}{mine}/").json()["status"] == "open"


def test_user_cannot_post_on_others_ticket(auth, make_user):
    theirs = open_ticket(client_for(make_user("other@example.com"))).json()["id"]
    assert auth.post(f"{TICKETS}{theirs}/messages/", {"body": "hi"}, format="json").status_code == 404


def test_empty_message_is_400(auth):
    ticket = open_ticket(auth).json()["id"]
    response = auth.post(f"{TICKETS}{ticket}/messages/", {"body": ""}, format="json")
    assert response.status_code == 400
    assert "body" in response.json()


def test_tickets_require_authentication(api):
    assert api.get(TICKETS).status_code == 401
