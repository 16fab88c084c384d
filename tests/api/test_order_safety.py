"""Orders under faults and abuse: a broker outage, lost messages, limits, formula injection, races."""

import csv
import io

import pytest
from django.core import mail
from django.db import OperationalError
from django.utils import timezone

from catalog.models import Product
from orders import confirmations, exports, tasks
from orders.models import Order
from support.models import Ticket, TicketMessage
from tests.helpers import client_for, race

from .test_orders import CREATE, fill_cart

pytestmark = pytest.mark.django_db


def test_an_order_placed_while_the_broker_is_down_is_201_and_the_sweep_sends_it_later(
    auth, product, monkeypatch, django_capture_on_commit_callbacks
):
    def broker_down(*args, **kwargs):
        raise ConnectionError("Error 111 connecting to redis:6379. Connection refused.")

    monkeypatch.setattr(tasks.send_pending_confirmations, "apply_async", broker_down)
    fill_cart(auth, product, 2)
    with django_capture_on_commit_callbacks(execute=True):
        response = auth.post(CREATE, {}, format="json")
    assert response.status_code == 201
    assert auth.get("/api/v1/cart/").json()["items"] == []
    assert mail.outbox == []

    monkeypatch.undo()  # the broker is back
    Order.objects.update(created_at=timezone.now() - confirmations.SWEEP_AFTER * 2)
    assert tasks.queue_unconfirmed_orders.delay().get() == 1
    assert len(mail.outbox) == 1
    assert tasks.queue_unconfirmed_orders.delay().get() == 0  # sent: never queued again


def test_a_confirmation_is_mailed_once_however_often_it_is_queued(auth, product, django_capture_on_commit_callbacks):
    fill_cart(auth, product, 1)
    with django_capture_on_commit_callbacks(execute=True):
        order_id = auth.post(CREATE, {}, format="json").json()["id"]
    for _ in range(3):
        tasks.send_order_confirmation.delay(order_id)
    assert len(mail.outbox) == 1


def queued_runs(monkeypatch) -> list[str]:
    """The names of the tasks sent to the broker from here on (none run: no worker)."""
    from config.celery import app

    sent: list[str] = []
    monkeypatch.setitem(app.conf, "task_always_eager", False)
    monkeypatch.setattr(app.amqp, "send_task_message", lambda producer, name, *args, **kwargs: sent.append(name))
    return sent


def test_queueing_a_confirmation_leaves_no_result_to_wait_for(monkeypatch):
    # A result that may be read costs every order: with Redis as the result backend the
    # web process subscribes to its channel at send time, and the worker writes it.
    from config.celery import app

    subscribed = []
    sent = queued_runs(monkeypatch)
    monkeypatch.setattr(app.backend, "on_task_call", lambda producer, task_id: subscribed.append(task_id))
    tasks.queue_confirmation(42)
    assert sent == ["orders.tasks.send_pending_confirmations"]
    assert subscribed == []


def test_orders_placed_while_a_run_is_queued_queue_no_other(monkeypatch):
    sent = queued_runs(monkeypatch)
    for order_id in range(1, 51):
        tasks.queue_confirmation(order_id)
    assert sent == ["orders.tasks.send_pending_confirmations"]  # one run, not fifty messages


def test_an_order_placed_once_the_run_started_queues_the_next(
    auth, product, monkeypatch, django_capture_on_commit_callbacks
):
    sent = queued_runs(monkeypatch)
    tasks.queue_confirmation(1)
    tasks.send_pending_confirmations.run()  # the queued run starts: nothing is pending yet
    fill_cart(auth, product, 1)
    with django_capture_on_commit_callbacks(execute=True):
        order = place_order_now(auth)
    assert sent == ["orders.tasks.send_pending_confirmations"] * 2  # this order is not left for the sweep
    assert tasks.send_pending_confirmations.run() == 1
    assert [m.subject for m in mail.outbox] == [f"DesiDeliver order #{order} confirmed"]


def test_a_run_mails_every_pending_order_once_and_a_broken_one_does_not_stop_it(auth, product, monkeypatch):
    monkeypatch.setattr(tasks, "queue_confirmation", lambda order_id: None)  # no run queued by the orders
    orders = []
    for _ in range(3):
        fill_cart(auth, product, 1)
        orders.append(place_order_now(auth))
    real_send_mail = confirmations.send_mail

    def broken_for_the_first(**kwargs):
        if f"#{orders[0]} " in kwargs["subject"]:
            raise ValueError("a template bug")
        return real_send_mail(**kwargs)

    monkeypatch.setattr(confirmations, "send_mail", broken_for_the_first)
    assert tasks.send_pending_confirmations.run() == 2
    assert sorted(m.subject for m in mail.outbox) == [f"DesiDeliver order #{n} confirmed" for n in orders[1:]]
    assert Order.objects.get(pk=orders[0]).confirmation_sent_at is None  # left for the next run
    monkeypatch.setattr(confirmations, "send_mail", real_send_mail)
    assert tasks.send_pending_confirmations.run() == 1
    assert tasks.send_pending_confirmations.run() == 0  # each mailed once
    assert len(mail.outbox) == 3


@pytest.mark.postgres("row locks are a PostgreSQL feature; SQLite serialises writers")
@pytest.mark.django_db(transaction=True)
def test_runs_and_single_confirmations_racing_mail_each_order_once(make_product, make_user, monkeypatch):
    monkeypatch.setattr(tasks, "queue_confirmation", lambda order_id: None)
    product = make_product("Basmati", stock=100)
    orders = []
    for n in range(12):
        client = client_for(make_user(f"racer{n}@example.com"))
        fill_cart(client, product, 1)
        orders.append(place_order_now(client))
    # Runs (a retry beside a fresh one) and the single-order task (an old message) all at once.
    race(
        tasks.send_pending_confirmations.run,
        tasks.send_pending_confirmations.run,
        tasks.send_pending_confirmations.run,
        *(lambda n=n: tasks.send_order_confirmation.run(n) for n in orders),
    )
    assert sorted(m.subject for m in mail.outbox) == sorted(f"DesiDeliver order #{n} confirmed" for n in orders)


def place_order_now(client) -> int:
    response = client.post(CREATE, {}, format="json")
    assert response.status_code == 201, response.content
    return response.json()["id"]


def test_a_database_error_while_confirming_is_retried(auth, product, monkeypatch, django_capture_on_commit_callbacks):
    from config.celery import app

    fill_cart(auth, product, 1)
    monkeypatch.setattr(tasks, "queue_confirmation", lambda order_id: None)
    order_id = auth.post(CREATE, {}, format="json").json()["id"]
    calls = []
    real_send_mail = confirmations.send_mail

    def database_blip(**kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("server closed the connection unexpectedly")
        return real_send_mail(**kwargs)

    monkeypatch.setattr(confirmations, "send_mail", database_blip)
    monkeypatch.setattr(tasks.send_order_confirmation, "retry_backoff", False)
    monkeypatch.setitem(app.conf, "task_eager_propagates", False)
    assert tasks.send_order_confirmation.apply(args=[order_id], throw=False).state == "SUCCESS"
    assert len(calls) == 2
    assert len(mail.outbox) == 1


def test_a_killed_worker_gives_its_message_back():
    from config.celery import app

    assert app.conf.task_acks_late is True
    assert app.conf.task_reject_on_worker_lost is True
    assert app.conf.broker_transport_options["visibility_timeout"] <= 600


# --- limits: no account reserves the catalogue ------------------------------------


def test_one_product_per_cart_is_capped(auth, make_product, settings):
    settings.MAX_LINE_QUANTITY = 5
    product = make_product(stock=100)
    too_many = auth.post("/api/v1/cart/add/", {"product_id": product.pk, "quantity": 6}, format="json")
    assert too_many.status_code == 400
    assert "At most 5" in str(too_many.json()["quantity"])
    fill_cart(auth, product, 5)
    again = auth.post("/api/v1/cart/add/", {"product_id": product.pk, "quantity": 1}, format="json")
    assert again.status_code == 400


def test_units_per_order_and_open_orders_per_user_are_capped(auth, make_product, settings):
    settings.MAX_LINE_QUANTITY, settings.MAX_ORDER_UNITS, settings.MAX_OPEN_ORDERS = 10, 12, 2
    first, second = make_product("Rice", stock=100), make_product("Dal", stock=100)
    fill_cart(auth, first, 10)
    fill_cart(auth, second, 5)
    over = auth.post(CREATE, {}, format="json")
    assert over.status_code == 409
    assert "at most 12 units" in over.json()["detail"]
    item = auth.get("/api/v1/cart/").json()["items"][1]["id"]
    assert auth.put(f"/api/v1/cart/update/{item}/", {"quantity": 1}, format="json").status_code == 200
    assert auth.post(CREATE, {}, format="json").status_code == 201
    fill_cart(auth, first, 1)
    assert auth.post(CREATE, {}, format="json").status_code == 201
    fill_cart(auth, first, 1)
    third = auth.post(CREATE, {}, format="json")
    assert third.status_code == 409
    assert "2 orders not yet delivered" in third.json()["detail"]
    Order.objects.update(status=Order.Status.DELIVERED)
    assert auth.post(CREATE, {}, format="json").status_code == 201


# --- what staff export and what customers read ------------------------------------------


def test_csv_export_cells_never_start_a_formula(staff_client, make_user, make_product):
    buyer = client_for(make_user("=cmd|'/c calc'!A1@example.com"))
    product = make_product("+SUM(1,2)", stock=5)
    fill_cart(buyer, product, 1)
    assert buyer.post(CREATE, {"delivery_address": "@home"}, format="json").status_code == 201
    rows = list(csv.reader(io.StringIO(staff_client.get("/api/v1/orders/export/").content.decode())))
    header, row = rows[0], rows[1]
    assert row[header.index("product")] == "'+SUM(1,2)"
    assert row[header.index("customer_email")].startswith("'=")
    assert all(not value.startswith(exports.FORMULA_STARTS) for value in row)


def test_customers_never_see_a_staff_members_address(auth, user, staff, staff_client):
    ticket = Ticket.objects.create(user=user, subject="Late")
    TicketMessage.objects.create(ticket=ticket, author=staff, body="On its way")
    seen = auth.get(f"/api/v1/tickets/{ticket.pk}/").json()["messages"][0]
    assert seen["author"] == "DesiDeliver support"
    assert staff.email not in auth.get(f"/api/v1/tickets/{ticket.pk}/").content.decode()
    assert staff_client.get(f"/api/v1/tickets/{ticket.pk}/").json()["messages"][0]["author"] == staff.email


# --- races: a 201 or a 4xx, never a 500 ----------------------------------------------


@pytest.mark.postgres("row locks are a PostgreSQL feature; SQLite serialises writers")
@pytest.mark.django_db(transaction=True)
def test_checkout_racing_cart_writes_and_twin_adds_never_give_a_500(make_product, make_user):
    products = [make_product(f"P{n}", stock=1000) for n in range(3)]
    for trial in range(8):
        client = client_for(make_user(f"racer{trial}@example.com"))
        fill_cart(client, products[0], 1)
        fill_cart(client, products[1], 1)
        new = products[2]
        statuses = race(
            lambda c=client: c.post(CREATE, {}, format="json").status_code,
            lambda c=client, p=new: c.post("/api/v1/cart/add/", {"product_id": p.pk}, format="json").status_code,
            lambda c=client, p=new: c.post("/api/v1/cart/add/", {"product_id": p.pk}, format="json").status_code,
        )
        assert 500 not in statuses, statuses
        assert all(status in (201, 400, 409) for status in statuses), statuses
    assert Product.objects.filter(stock__lt=0).count() == 0


@pytest.mark.postgres("row locks are a PostgreSQL feature; SQLite serialises writers")
@pytest.mark.django_db(transaction=True)
def test_parallel_orders_of_one_user_never_pass_the_open_orders_cap(make_product, user, settings):
    settings.MAX_OPEN_ORDERS = 5
    product = make_product("Basmati", stock=1000)
    client = client_for(user)
    body = {"items": [{"product_id": product.pk, "quantity": 1}]}
    statuses = race(*[lambda: client.post(CREATE, body, format="json").status_code for _ in range(30)])
    assert sorted(statuses) == [201] * 5 + [409] * 25
    assert Order.objects.filter(user=user).count() == 5


def test_a_racing_call_that_raises_fails_the_race():
    def deadlock():
        raise OperationalError("deadlock detected")

    with pytest.raises(AssertionError, match=r"1 of 2 racing calls raised; call 1: OperationalError\('deadlock"):
        race(lambda: 201, deadlock)
