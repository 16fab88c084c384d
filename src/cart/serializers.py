from django.conf import settings
from rest_framework import serializers

from catalog.models import Product

from .models import Cart, CartItem


class CartProductSerializer(serializers.ModelSerializer):
    class Meta:
        model = Product
        fields = ["id", "name", "price", "unit", "stock"]


class CartItemSerializer(serializers.ModelSerializer):
    product = CartProductSerializer(read_only=True)
    line_total = serializers.DecimalField(max_digits=12, decimal_places=2, read_only=True)

    class Meta:
        model = CartItem
        fields = ["id", "product", "quantity", "line_total"]


class CartSerializer(serializers.ModelSerializer):
    items = CartItemSerializer(many=True, read_only=True)
    total = serializers.DecimalField(max_digits=12, decimal_places=2, read_only=True)

    class Meta:
        model = Cart
        fields = ["id", "items", "total", "updated_at"]


def line_quantity(quantity: int) -> int:
    """One product's quantity in a cart: at most MAX_LINE_QUANTITY (no one reserves the whole stock)."""
    if quantity > settings.MAX_LINE_QUANTITY:
        raise serializers.ValidationError(
            f"At most {settings.MAX_LINE_QUANTITY} of one product per order; you asked for {quantity}."
        )
    return quantity


def check_line_quantity(quantity: int) -> None:
    try:
        line_quantity(quantity)
    except serializers.ValidationError as error:
        raise serializers.ValidationError({"quantity": error.detail}) from None


def check_stock(product: Product, quantity: int) -> None:
    if quantity > product.stock:
        raise serializers.ValidationError(
            {"quantity": [f"Only {product.stock} of '{product.name}' in stock; you asked for {quantity}."]}
        )


class AddToCartSerializer(serializers.Serializer):
    product_id = serializers.PrimaryKeyRelatedField(
        queryset=Product.objects.filter(is_active=True), source="product", help_text="Id of an active product."
    )
    quantity = serializers.IntegerField(min_value=1, default=1, validators=[line_quantity])


class UpdateCartItemSerializer(serializers.Serializer):
    quantity = serializers.IntegerField(min_value=1, validators=[line_quantity])
