import csv
import io
from decimal import Decimal

import pytest
from django.core import mail

from catalog.models import Product
from orders.models import Order
from orders.tasks import export_orders_csv

from .conftest import client_for, race

pytestmark = pytest.mark.django_db

CREATE = "/api/v1/orders/create/"


def fill_cart(client, product, quantity):
    response = client.post("/api/v1/cart/add/", {"product_id": product.pk, "quantity": quantity}, format="json")
    assert response.status_code == 201, response.content


def test_order_flow_snapshots_prices_decrements_stock_empties_cart_and_emails(
    auth, user, make_product, django_capture_on_commit_callbacks
):
    masala, dal = make_product("Garam Masala", "85.00", 10), make_product("Toor Dal", "165.00", 5)
    fill_cart(auth, masala, 2)
    fill_cart(auth, dal, 1)
    with django_capture_on_commit_callbacks(execute=True):
        response = auth.post(CREATE, {"delivery_address": "12 MG Road, Bengaluru"}, format="json")
    assert response.status_code == 201, response.content
    order = response.json()
    assert order["total"] == "335.00"
    assert sorted((i["product_name"], i["unit_price"], i["quantity"]) for i in order["items"]) == [
        ("Garam Masala", "85.00", 2),
        ("Toor Dal", "165.00", 1),
    ]
    assert Product.objects.get(pk=masala.pk).stock == 8
    assert Product.objects.get(pk=dal.pk).stock == 4
    assert auth.get("/api/v1/cart/").json()["items"] == []
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [user.email]
    assert f"order #{order['id']}" in mail.outbox[0].subject
    assert "335.00" in mail.outbox[0].body

    # Prices are a snapshot: a later price change does not rewrite the order.
    masala.price = Decimal("500.00")
    masala.save()
    assert auth.get(f"/api/v1/orders/{order['id']}/").json()["total"] == "335.00"


def test_a_cached_product_list_shows_the_stock_an_order_took(auth, product, django_capture_on_commit_callbacks):
    assert auth.get("/api/v1/products/").json()["results"][0]["stock"] == 10  # now cached
    fill_cart(auth, product, 3)
    with django_capture_on_commit_callbacks(execute=True):
        assert auth.post(CREATE, {}, format="json").status_code == 201
    assert auth.get("/api/v1/products/").json()["results"][0]["stock"] == 7


def test_empty_cart_is_400(auth):
    response = auth.post(CREATE, {}, format="json")
    assert response.status_code == 400
    assert "empty" in response.json()["detail"]


def test_stock_gone_since_adding_to_cart_is_409_and_changes_nothing(auth, product, django_capture_on_commit_callbacks):
    fill_cart(auth, product, 5)
    Product.objects.filter(pk=product.pk).update(stock=3)
    with django_capture_on_commit_callbacks(execute=True):
        response = auth.post(CREATE, {}, format="json")
    assert response.status_code == 409
    assert response.json()["shortages"] == [
        {"product_id": product.pk, "name": product.name, "requested": 5, "available": 3}
    ]
    assert Product.objects.get(pk=product.pk).stock == 3
    assert Order.objects.count() == 0
    assert mail.outbox == []
    assert len(auth.get("/api/v1/cart/").json()["items"]) == 1


def test_orders_require_authentication(api):
    assert api.get("/api/v1/orders/").status_code == 401
    assert api.post(CREATE, {}, format="json").status_code == 401


def test_users_see_only_their_own_orders(auth, product, make_user):
    fill_cart(auth, product, 1)
    order_id = auth.post(CREATE, {}, format="json").json()["id"]
    other = client_for(make_user("other@example.com"))
    assert other.get("/api/v1/orders/").json()["count"] == 0
    assert other.get(f"/api/v1/orders/{order_id}/").status_code == 404
    assert auth.get("/api/v1/orders/").json()["results"][0]["id"] == order_id


def test_delivery_address_too_long_is_400(auth, product):
    fill_cart(auth, product, 1)
    response = auth.post(CREATE, {"delivery_address": "x" * 1001}, format="json")
    assert response.status_code == 400
    assert "delivery_address" in response.json()


def test_csv_export_is_staff_only(auth, staff_client, product):
    fill_cart(auth, product, 2)
    auth.post(CREATE, {}, format="json")
    assert auth.get("/api/v1/orders/export/").status_code == 403
    response = staff_client.get("/api/v1/orders/export/")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [(r["customer_email"], r["product"], r["quantity"]) for r in rows] == [
        ("asha@example.com", product.name, "2")
    ]


def test_csv_export_task_writes_complete_file(auth, staff_client, product, tmp_path, settings):
    settings.ORDER_EXPORT_DIR = tmp_path
    fill_cart(auth, product, 1)
    auth.post(CREATE, {}, format="json")
    assert staff_client.post("/api/v1/orders/export/").status_code == 202
    path = export_orders_csv.delay().get()
    files = sorted(p.name for p in tmp_path.iterdir())
    assert all(f.endswith(".csv") for f in files)  # no .partial file left behind
    with open(path, newline="") as exported:
        rows = list(csv.DictReader(exported))
    assert rows[0]["product"] == product.name


def test_confirmation_task_does_not_mail_twice(auth, product, django_capture_on_commit_callbacks):
    from orders.tasks import send_order_confirmation

    fill_cart(auth, product, 1)
    with django_capture_on_commit_callbacks(execute=True):
        order_id = auth.post(CREATE, {}, format="json").json()["id"]
    assert send_order_confirmation.delay(order_id).get() == "already sent"
    assert len(mail.outbox) == 1


@pytest.mark.postgres("row locks are a PostgreSQL feature; SQLite serialises writers")
@pytest.mark.django_db(transaction=True)
def test_concurrent_orders_never_oversell(make_product, make_user):
    stock, buyers, each = 5, 12, 1
    product = make_product("Alphonso Mangoes", price="450.00", stock=stock)
    clients = []
    for n in range(buyers):
        client = client_for(make_user(f"buyer{n}@example.com"))
        fill_cart(client, product, each)
        clients.append(client)

    statuses = race(*[lambda c=c: c.post(CREATE, {}, format="json").status_code for c in clients])

    assert sorted(set(statuses)) == [201, 409]
    assert statuses.count(201) == stock
    assert Product.objects.get(pk=product.pk).stock == 0
    assert Order.objects.count() == stock


def test_an_add_and_a_two_line_checkout_take_a_fixed_small_number_of_queries(
    auth, make_product, django_assert_max_num_queries
):
    # Checkout throughput is bounded by round trips to PostgreSQL (docs/performance.md):
    # the cart row and its items come with one lock and one query, the stock of every line
    # changes in one UPDATE, the response is built from the rows just written (no read after the commit).
    masala, dal = make_product("Garam Masala", "85.00", 10), make_product("Toor Dal", "165.00", 5)
    fill_cart(auth, masala, 1)
    with django_assert_max_num_queries(9):
        fill_cart(auth, dal, 2)
    with django_assert_max_num_queries(10):
        response = auth.post(CREATE, {}, format="json")
    assert response.status_code == 201
    assert response.json()["total"] == "415.00"
    assert [i["quantity"] for i in response.json()["items"]] == [1, 2]
    assert (Product.objects.get(pk=masala.pk).stock, Product.objects.get(pk=dal.pk).stock) == (9, 3)


def test_an_order_can_name_its_lines_in_one_request_and_leaves_the_cart_alone(
    auth, make_product, django_capture_on_commit_callbacks, django_assert_max_num_queries
):
    masala, dal = make_product("Garam Masala", "85.00", 10), make_product("Toor Dal", "165.00", 5)
    fill_cart(auth, masala, 4)  # a cart kept on the server for later
    lines = [{"product_id": dal.pk, "quantity": 2}, {"product_id": masala.pk, "quantity": 1}]
    # 8: the user's row is locked first, so this user's parallel orders count each other (MAX_OPEN_ORDERS).
    with django_capture_on_commit_callbacks(execute=True), django_assert_max_num_queries(8):
        response = auth.post(CREATE, {"delivery_address": "1 MG Road", "items": lines}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["total"] == "415.00"
    assert sorted((i["product_name"], i["quantity"]) for i in response.json()["items"]) == [
        ("Garam Masala", 1),
        ("Toor Dal", 2),
    ]
    assert (Product.objects.get(pk=masala.pk).stock, Product.objects.get(pk=dal.pk).stock) == (9, 3)
    assert [i["quantity"] for i in auth.get("/api/v1/cart/").json()["items"]] == [4]
    assert len(mail.outbox) == 1


def test_order_lines_are_checked_like_a_cart(auth, make_product, settings):
    masala = make_product("Garam Masala", "85.00", 50)
    half = settings.MAX_LINE_QUANTITY // 2 + 1
    twice = [{"product_id": masala.pk, "quantity": half}, {"product_id": masala.pk, "quantity": half}]
    response = auth.post(CREATE, {"items": twice}, format="json")
    assert response.status_code == 400
    assert f"At most {settings.MAX_LINE_QUANTITY} of one product" in str(response.json()["items"])
    assert auth.post(CREATE, {"items": []}, format="json").status_code == 400
    unknown = auth.post(CREATE, {"items": [{"product_id": 999999, "quantity": 1}]}, format="json")
    assert unknown.status_code == 409
    assert unknown.json()["shortages"] == [{"product_id": 999999, "name": None, "requested": 1, "available": 0}]
    assert Product.objects.get(pk=masala.pk).stock == 50
    assert Order.objects.count() == 0
