from datetime import datetime

import pytest
from django.core.exceptions import ValidationError

from cart import services
from cart.models import CartItem
from tests.helpers import client_for

pytestmark = pytest.mark.django_db

CART = "/api/v1/cart/"


def add(client, product, quantity=1):
    return client.post(f"{CART}add/", {"product_id": product.pk, "quantity": quantity}, format="json")


def test_cart_requires_authentication(api, product):
    assert api.get(CART).status_code == 401
    assert add(api, product).status_code == 401


def test_empty_cart(auth):
    body = auth.get(CART).json()
    assert body["items"] == []
    assert body["total"] == "0.00"


def test_add_then_add_again_merges_quantities_and_totals(auth, product):
    assert add(auth, product, 2).status_code == 201
    body = add(auth, product, 3).json()
    assert [(i["product"]["id"], i["quantity"]) for i in body["items"]] == [(product.pk, 5)]
    assert body["total"] == "425.00"


@pytest.mark.parametrize("quantity", [0, -1, "two", 1001, None])
def test_add_rejects_bad_quantities(auth, product, quantity):
    response = add(auth, product, quantity)
    assert response.status_code == 400
    assert "quantity" in response.json()


def test_add_rejects_more_than_stock_naming_what_is_left(auth, product):
    response = add(auth, product, product.stock + 1)
    assert response.status_code == 400
    assert f"Only {product.stock}" in response.json()["quantity"][0]


def test_add_counts_what_is_already_in_the_cart_against_stock(auth, product):
    add(auth, product, product.stock)
    assert add(auth, product, 1).status_code == 400


@pytest.mark.parametrize("product_id", [999999, "abc", None])
def test_add_rejects_unknown_products(auth, product_id):
    response = auth.post(f"{CART}add/", {"product_id": product_id, "quantity": 1}, format="json")
    assert response.status_code == 400
    assert "product_id" in response.json()


def test_add_rejects_inactive_product(auth, make_product):
    retired = make_product("Retired", is_active=False)
    assert add(auth, retired).status_code == 400


def test_update_sets_quantity_within_stock(auth, product):
    item_id = add(auth, product, 1).json()["items"][0]["id"]
    response = auth.put(f"{CART}update/{item_id}/", {"quantity": 4}, format="json")
    assert response.status_code == 200
    assert response.json()["items"][0]["quantity"] == 4
    too_many = auth.put(f"{CART}update/{item_id}/", {"quantity": product.stock + 1}, format="json")
    assert too_many.status_code == 400
    assert CartItem.objects.get(pk=item_id).quantity == 4


def test_update_rejects_zero(auth, product):
    item_id = add(auth, product, 1).json()["items"][0]["id"]
    assert auth.put(f"{CART}update/{item_id}/", {"quantity": 0}, format="json").status_code == 400


def test_remove_item(auth, product):
    item_id = add(auth, product, 1).json()["items"][0]["id"]
    response = auth.delete(f"{CART}remove/{item_id}/")
    assert response.status_code == 200
    assert response.json()["items"] == []
    assert auth.delete(f"{CART}remove/{item_id}/").status_code == 404


def test_other_users_items_are_404(auth, product, make_user):
    item_id = add(auth, product, 1).json()["items"][0]["id"]
    intruder = client_for(make_user("intruder@example.com"))
    assert intruder.put(f"{CART}update/{item_id}/", {"quantity": 2}, format="json").status_code == 404
    assert intruder.delete(f"{CART}remove/{item_id}/").status_code == 404
    assert CartItem.objects.get(pk=item_id).quantity == 1


def test_adding_to_a_line_is_refused_by_what_the_line_would_hold_and_changes_nothing(auth, make_product, settings):
    settings.MAX_LINE_QUANTITY = 5
    product = make_product(stock=7)
    before = add(auth, product, 3).json()
    over_limit = add(auth, product, 3)
    assert over_limit.status_code == 400
    assert over_limit.json() == {"quantity": ["At most 5 of one product per order; you asked for 6."]}
    settings.MAX_LINE_QUANTITY = 10
    over_stock = add(auth, product, 5)
    assert over_stock.status_code == 400
    assert over_stock.json() == {"quantity": ["Only 7 of 'Garam Masala' in stock; you asked for 8."]}
    assert auth.get(CART).json() == before  # the line, the total and updated_at as they were


def test_update_past_the_line_limit_is_400_and_leaves_the_line(auth, make_product, settings):
    settings.MAX_LINE_QUANTITY = 5
    item_id = add(auth, make_product(stock=100), 2).json()["items"][0]["id"]
    response = auth.put(f"{CART}update/{item_id}/", {"quantity": 6}, format="json")
    assert response.status_code == 400
    assert response.json() == {"quantity": ["At most 5 of one product per order; you asked for 6."]}
    assert CartItem.objects.get(pk=item_id).quantity == 2


def test_every_write_moves_the_carts_updated_at(auth, product):
    # Stale carts are purged by updated_at: a cart in use must look it.
    added = add(auth, product, 1).json()
    item_id = added["items"][0]["id"]
    updated = auth.put(f"{CART}update/{item_id}/", {"quantity": 2}, format="json").json()
    removed = auth.delete(f"{CART}remove/{item_id}/").json()
    times = [datetime.fromisoformat(cart["updated_at"]) for cart in (added, updated, removed)]
    assert times[0] < times[1] < times[2]


def test_the_services_keep_the_rules_without_a_serializer_in_front(user, make_product, settings):
    # A caller with no serializer in front (a shell, a task) is held to the rules too.
    settings.MAX_LINE_QUANTITY = 5
    product = make_product(stock=3)
    item_id = services.add_item(user, product, 2).items.get().pk
    with pytest.raises(ValidationError) as over_limit:
        services.set_quantity(user, item_id, 6)
    assert over_limit.value.message_dict == {"quantity": ["At most 5 of one product per order; you asked for 6."]}
    with pytest.raises(ValidationError) as over_stock:
        services.add_item(user, product, 2)
    assert over_stock.value.message_dict == {"quantity": ["Only 3 of 'Garam Masala' in stock; you asked for 4."]}
    assert CartItem.objects.get(pk=item_id).quantity == 2


def test_the_one_query_read_shows_what_the_serializer_shows_for_every_kind_of_cart(
    user, make_product, django_assert_num_queries
):
    """cart/reads.py stands in for CartSerializer on the hot path: same keys, order and formats."""
    from decimal import Decimal

    from django.db.models import Prefetch
    from rest_framework.renderers import JSONRenderer

    from cart import reads
    from cart.models import Cart
    from cart.serializers import CartSerializer

    def serialized() -> bytes:
        cart = Cart.objects.prefetch_related(Prefetch("items", CartItem.objects.select_related("product"))).get(
            user=user
        )
        return JSONRenderer().render(CartSerializer(cart).data)

    assert reads.shown(user.pk) is None  # no cart yet
    cart = services.cart_for(user)
    with django_assert_num_queries(1):
        shown = reads.shown(user.pk)
    assert JSONRenderer().render(shown) == serialized()  # empty
    prices = [Decimal("0.01"), Decimal("12.50"), Decimal("99999999.99"), Decimal("3")]
    for n, price in enumerate(prices, start=1):
        item = make_product(name=f"Item {n}", price=price, stock=10**6)
        CartItem.objects.create(cart=cart, product=item, quantity=n * 7)
        with django_assert_num_queries(1):
            shown = reads.shown(user.pk)
        assert JSONRenderer().render(shown) == serialized()
    assert [line["quantity"] for line in shown["items"]] == [7, 14, 21, 28]  # in the order they were added
    assert shown["total"] == "2100000258.86"
