import csv
import io
import os
import time
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.core import mail

from catalog.models import Product
from orders import exports, tasks
from orders.models import Order
from orders.serializers import OrderSerializer
from tests.helpers import client_for, race

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


EXPORT = "/api/v1/orders/export/"


@pytest.fixture
def export_dir(settings, tmp_path):
    settings.ORDER_EXPORT_DIR = tmp_path / "media" / "exports"
    return settings.ORDER_EXPORT_DIR


def download(client, url: str):
    """GET `url`: the response and its body (a file's is read whole, which closes it)."""
    response = client.get(url)
    return response, response.getvalue()


def test_a_queued_export_is_named_and_staff_download_every_order_once_it_is_written(
    auth, staff_client, make_user, make_product, export_dir
):
    masala, dal = make_product("Garam Masala", "85.00", 10), make_product("Toor Dal", "165.00", 5)
    fill_cart(auth, masala, 2)
    fill_cart(auth, dal, 1)
    first = auth.post(CREATE, {}, format="json").json()["id"]
    other = client_for(make_user("ravi@example.com"))
    fill_cart(other, dal, 3)
    second = other.post(CREATE, {}, format="json").json()["id"]

    queued = staff_client.post(EXPORT)  # the worker runs it at once here (eager)
    assert queued.status_code == 202, queued.content
    name, url = queued.json()["name"], queued.json()["url"]
    assert exports.NAME.fullmatch(name)
    assert url == f"http://testserver{EXPORT}{name}/"
    assert queued["Location"] == url
    response, body = download(staff_client, url)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == f'attachment; filename="{name}"'
    rows = list(csv.reader(io.StringIO(body.decode())))
    assert rows[0] == exports.CSV_HEADER
    assert sorted((r[0], r[2], r[4], r[6]) for r in rows[1:]) == [
        (str(first), "asha@example.com", "Garam Masala", "2"),
        (str(first), "asha@example.com", "Toor Dal", "1"),
        (str(second), "ravi@example.com", "Toor Dal", "3"),
    ]
    assert [p.name for p in export_dir.iterdir()] == [name]  # no temporary file left behind
    assert staff_client.post(EXPORT).json()["name"] != name  # each export its own file


def test_an_export_is_404_until_it_is_complete(staff_client, product, export_dir, monkeypatch):
    queued = []
    monkeypatch.setattr(tasks.export_orders_csv, "delay", lambda name: queued.append(name) or SimpleNamespace(id="t"))
    url = staff_client.post(EXPORT).json()["url"]
    name = queued[0]
    waiting = staff_client.get(url)
    assert waiting.status_code == 404
    assert waiting.json()["detail"].startswith(f"Export {name} is not there: not written yet")
    # The worker is writing it: its temporary file is never served, under either name.
    export_dir.mkdir(parents=True)
    partial = export_dir / f".{name}.abc123.partial"
    partial.write_text(",".join(exports.CSV_HEADER) + "\n")
    assert download(staff_client, url)[0].status_code == 404
    assert download(staff_client, f"{EXPORT}{partial.name}/")[0].status_code == 404
    tasks.export_orders_csv(name)
    assert download(staff_client, url)[0].status_code == 200


def test_a_failed_export_leaves_no_file(staff_client, product, export_dir, monkeypatch):
    def broken(orders, out):
        out.write("order_id,")
        raise OSError("disk full")

    monkeypatch.setattr(exports, "write_orders_csv", broken)
    with pytest.raises(OSError, match="disk full"):
        exports.write_export(exports.new_export_name())
    assert list(export_dir.iterdir()) == []


@pytest.mark.parametrize(
    "name",
    [
        "..",
        "..%2F..%2Fsecret.txt",  # the URL decodes to a path: no route matches
        "%2e%2e%2fsecret.txt",
        "..%5Csecret.txt",
        "secret.txt",
        "orders-20250131T120000Z-0a1b2c3d.csv%2F..%2F..%2Fsecret.txt",
        "orders-20250131T120000Z-0a1b2c3d.csv.partial",
        "orders-20250131T120000Z-0A1B2C3D.csv",
        "orders-x.csv",
    ],
)
def test_only_an_exports_own_name_is_served(staff_client, product, export_dir, name):
    written = staff_client.post(EXPORT).json()["url"]
    assert download(staff_client, written)[0].status_code == 200  # the export directory holds a real export
    for secret in (export_dir / "secret.txt", export_dir.parent / "secret.txt", export_dir.parents[1] / "secret.txt"):
        secret.write_text("do not serve")
    response, body = download(staff_client, f"{EXPORT}{name}/")
    assert response.status_code == 404
    assert b"do not serve" not in body
    assert response["Content-Type"] == "application/json"


def test_only_staff_may_queue_or_download_an_export(api, auth, staff_client, product, export_dir):
    url = staff_client.post(EXPORT).json()["url"]
    assert api.get(url).status_code == 401
    assert auth.get(url).status_code == 403
    assert api.post(EXPORT).status_code == 401
    assert auth.post(EXPORT).status_code == 403
    assert download(staff_client, url)[0].status_code == 200


def test_the_purge_deletes_only_exports_older_than_the_kept_days(settings, export_dir):
    settings.ORDER_EXPORT_KEEP_DAYS = 7
    export_dir.mkdir(parents=True)
    day = 24 * 60 * 60
    ages = {
        "orders-20250101T000000Z-00000000.csv": 8 * day,  # deleted
        ".orders-20250101T000000Z-11111111.csv.x1y2.partial": 8 * day,  # a crashed writer's: deleted
        "orders-20250106T000000Z-22222222.csv": 6 * day,  # kept
        "notes.txt": 30 * day,  # not an export: kept
    }
    for name, age in ages.items():
        (export_dir / name).write_text("x")
        os.utime(export_dir / name, (time.time() - age,) * 2)
    assert tasks.purge_old_exports.delay().get() == 2
    assert sorted(p.name for p in export_dir.iterdir()) == ["notes.txt", "orders-20250106T000000Z-22222222.csv"]
    assert settings.CELERY_BEAT_SCHEDULE["purge-old-exports"]["task"] == "orders.tasks.purge_old_exports"
    settings.ORDER_EXPORT_DIR = export_dir / "never-written"
    assert tasks.purge_old_exports.delay().get() == 0


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


def test_the_order_list_and_an_order_read_all_their_items_in_one_query(auth, make_product, django_assert_num_queries):
    products = [make_product(f"P{n}", stock=50) for n in range(3)]
    for size in (1, 2, 3):
        for product in products[:size]:
            fill_cart(auth, product, 1)
        assert auth.post(CREATE, {}, format="json").status_code == 201
    with django_assert_num_queries(3):  # the count, the page of orders, the items of them all
        orders = auth.get("/api/v1/orders/").json()["results"]
    assert [[i["product_name"] for i in order["items"]] for order in orders] == [
        ["P0", "P1", "P2"],
        ["P0", "P1"],
        ["P0"],
    ]
    with django_assert_num_queries(2):
        order = auth.get(f"/api/v1/orders/{orders[0]['id']}/").json()
    assert order["items"] == orders[0]["items"]


def test_an_order_read_without_its_items_prefetched_still_shows_them(auth, product):
    fill_cart(auth, product, 2)
    placed = auth.post(CREATE, {}, format="json").json()
    assert OrderSerializer(Order.objects.get(pk=placed["id"])).data["items"] == placed["items"]
