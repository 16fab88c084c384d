from rest_framework import serializers

from catalog.models import Product

from .models import Cart, CartItem

MAX_QUANTITY = 1000


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


def check_stock(product: Product, quantity: int) -> None:
    if quantity > product.stock:
        raise serializers.ValidationError(
            {"quantity": [f"Only {product.stock} of '{product.name}' in stock; you asked for {quantity}."]}
        )


class AddToCartSerializer(serializers.Serializer):
    product_id = serializers.PrimaryKeyRelatedField(
        queryset=Product.objects.filter(is_active=True), source="product", help_text="Id of an active product."
    )
    quantity = serializers.IntegerField(min_value=1, max_value=MAX_QUANTITY, default=1)


class UpdateCartItemSerializer(serializers.Serializer):
    quantity = serializers.IntegerField(min_value=1, max_value=MAX_QUANTITY)
