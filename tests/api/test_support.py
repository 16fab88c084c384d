import pytest
from rest_framework.throttling import ScopedRateThrottle

from support.models import TicketMessage
from tests.helpers import client_for

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


def add_messages(ticket_id: int, author, count: int) -> None:
    TicketMessage.objects.bulk_create(
        TicketMessage(ticket_id=ticket_id, author=author, body=f"Follow-up {n}") for n in range(1, count + 1)
    )


def test_posting_tickets_and_messages_is_throttled_per_account_reading_and_staff_are_not(
    auth, user, staff_client, make_user, monkeypatch
):
    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", {"support": "3/hour"})
    ticket = open_ticket(auth).json()["id"]
    post = [auth.post(f"{TICKETS}{ticket}/messages/", {"body": "Any news?"}, format="json") for _ in range(3)]
    assert [r.status_code for r in post] == [201, 201, 429]
    assert "throttled" in post[2].json()["detail"]
    assert open_ticket(auth).status_code == 429  # one budget for tickets and messages
    assert auth.get(f"{TICKETS}{ticket}/").status_code == 200
    assert auth.get(f"{TICKETS}{ticket}/messages/").status_code == 200
    assert open_ticket(client_for(make_user("other@example.com"))).status_code == 201  # per account, not global
    replies = [staff_client.post(f"{TICKETS}{ticket}/messages/", {"body": "On it"}, format="json") for _ in range(5)]
    assert {r.status_code for r in replies} == {201}


def test_a_ticket_shows_its_newest_messages_and_how_many_there_are(auth, user, settings):
    settings.TICKET_DETAIL_MESSAGES = 3
    created = open_ticket(auth).json()
    assert created["message_count"] == 1
    assert [m["body"] for m in created["messages"]] == ["Where is my order?"]
    add_messages(created["id"], user, 4)

    detail = auth.get(f"{TICKETS}{created['id']}/").json()
    assert detail["message_count"] == 5
    assert [m["body"] for m in detail["messages"]] == ["Follow-up 2", "Follow-up 3", "Follow-up 4"]
    listed = auth.get(TICKETS).json()["results"][0]
    assert (listed["message_count"], listed["messages"]) == (5, detail["messages"])


def test_every_message_of_a_ticket_is_listed_a_page_at_a_time_oldest_first(auth, user, make_user):
    ticket = open_ticket(auth).json()["id"]
    add_messages(ticket, user, 4)
    first = auth.get(f"{TICKETS}{ticket}/messages/", {"page_size": 2}).json()
    assert first["count"] == 5
    assert [m["body"] for m in first["results"]] == ["Where is my order?", "Follow-up 1"]
    last = auth.get(f"{TICKETS}{ticket}/messages/", {"page_size": 2, "page": 3}).json()
    assert [m["body"] for m in last["results"]] == ["Follow-up 4"]
    assert last["next"] is None
    stranger = client_for(make_user("stranger@example.com"))
    assert stranger.get(f"{TICKETS}{ticket}/messages/").status_code == 404


def test_the_ticket_list_costs_the_same_queries_however_many_messages(auth, user, django_assert_num_queries):
    for _ in range(3):
        add_messages(open_ticket(auth).json()["id"], user, 60)
    # The page's count, the tickets with their message counts, their newest messages: never one per ticket.
    with django_assert_num_queries(3):
        tickets = auth.get(TICKETS).json()["results"]
    assert [t["message_count"] for t in tickets] == [61, 61, 61]
    assert {len(t["messages"]) for t in tickets} == {50}


def test_the_schema_documents_the_message_count_and_the_paged_messages(staff_client):
    schema = staff_client.get("/api/v1/schema/", HTTP_ACCEPT="application/json").json()
    ticket = schema["components"]["schemas"]["Ticket"]
    assert "message_count" in ticket["properties"]
    assert ticket["properties"]["messages"]["type"] == "array"
    listing = schema["paths"]["/api/v1/tickets/{id}/messages/"]["get"]
    assert {p["name"] for p in listing["parameters"]} >= {"page", "page_size"}
    assert "PaginatedTicketMessageList" in listing["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
