from django.db import transaction
from django.db.models import Prefetch, prefetch_related_objects
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from .models import Cart, CartItem
from .serializers import AddToCartSerializer, CartSerializer, UpdateCartItemSerializer, check_line_quantity, check_stock


def cart_for(user) -> Cart:
    cart, _ = Cart.objects.get_or_create(user=user)
    return cart


def locked_cart(user) -> Cart:
    """The user's cart, row-locked until the transaction ends.

    Every writer (add, update, remove, checkout) locks the cart first and its
    items after: one lock order, so two of them never deadlock, and two adds of
    the same new product serialise instead of racing to insert it twice. One
    query when the cart exists; a first cart is made by get_or_create, which
    copes with a twin request making it at the same time.
    """
    cart = Cart.objects.select_for_update().filter(user=user).first()
    return cart or Cart.objects.select_for_update().get(pk=cart_for(user).pk)


def cart_response(cart: Cart, status_code: int = status.HTTP_200_OK) -> Response:
    # The cart row is at hand: its items and their products in one query.
    prefetch_related_objects([cart], Prefetch("items", queryset=CartItem.objects.select_related("product")))
    return Response(CartSerializer(cart).data, status=status_code)


class CartView(APIView):
    @extend_schema(responses=CartSerializer)
    def get(self, request: Request) -> Response:
        return cart_response(cart_for(request.user))


class CartAddView(APIView):
    @extend_schema(request=AddToCartSerializer, responses={201: CartSerializer})
    def post(self, request: Request) -> Response:
        data = AddToCartSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        product, quantity = data.validated_data["product"], data.validated_data["quantity"]
        with transaction.atomic():
            cart = locked_cart(request.user)
            item = CartItem.objects.filter(cart=cart, product=product).first()
            total = quantity + (item.quantity if item else 0)
            check_line_quantity(total)
            check_stock(product, total)
            if item:
                item.quantity = total
                item.save(update_fields=["quantity"])
            else:
                CartItem.objects.create(cart=cart, product=product, quantity=quantity)
            cart.save(update_fields=["updated_at"])
        return cart_response(cart, status.HTTP_201_CREATED)


class CartItemView(APIView):
    def get_item(self, request: Request, item_id: int) -> CartItem:
        # Another user's item is indistinguishable from a missing one.
        return get_object_or_404(
            CartItem.objects.select_related("product", "cart"), pk=item_id, cart__user=request.user
        )

    @extend_schema(request=UpdateCartItemSerializer, responses=CartSerializer)
    def put(self, request: Request, item_id: int) -> Response:
        data = UpdateCartItemSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        with transaction.atomic():
            cart = locked_cart(request.user)
            item = self.get_item(request, item_id)
            check_stock(item.product, data.validated_data["quantity"])
            item.quantity = data.validated_data["quantity"]
            item.save(update_fields=["quantity"])
            cart.save(update_fields=["updated_at"])
        return cart_response(cart)

    @extend_schema(request=None, responses=CartSerializer)
    def delete(self, request: Request, item_id: int) -> Response:
        with transaction.atomic():
            cart = locked_cart(request.user)
            self.get_item(request, item_id).delete()
            cart.save(update_fields=["updated_at"])
        return cart_response(cart)
