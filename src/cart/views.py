from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from . import reads, services
from .models import Cart
from .serializers import AddToCartSerializer, CartSerializer, UpdateCartItemSerializer


def cart_response(cart: Cart, status_code: int = status.HTTP_200_OK) -> Response:
    return Response(reads.shown(cart.user_id), status=status_code)


class CartView(APIView):
    @extend_schema(responses=CartSerializer)
    def get(self, request: Request) -> Response:
        # One query for a shopper who has a cart; a first visit makes it.
        shown = reads.shown(request.user.pk)
        return Response(shown) if shown is not None else cart_response(services.cart_for(request.user))


class CartAddView(APIView):
    @extend_schema(request=AddToCartSerializer, responses={201: CartSerializer})
    def post(self, request: Request) -> Response:
        data = AddToCartSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        cart = services.add_item(request.user, data.validated_data["product"], data.validated_data["quantity"])
        return cart_response(cart, status.HTTP_201_CREATED)


class CartItemView(APIView):
    @extend_schema(request=UpdateCartItemSerializer, responses=CartSerializer)
    def put(self, request: Request, item_id: int) -> Response:
        data = UpdateCartItemSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return cart_response(services.set_quantity(request.user, item_id, data.validated_data["quantity"]))

    @extend_schema(request=None, responses=CartSerializer)
    def delete(self, request: Request, item_id: int) -> Response:
        return cart_response(services.remove_item(request.user, item_id))
