from django.conf import settings
from rest_framework import serializers

from cart.services import check_line_quantity

from .models import Order, OrderItem


class OrderItemSerializer(serializers.ModelSerializer):
    line_total = serializers.DecimalField(max_digits=12, decimal_places=2, read_only=True)

    class Meta:
        model = OrderItem
        fields = ["id", "product", "product_name", "unit_price", "quantity", "line_total"]


class OrderSerializer(serializers.ModelSerializer):
    items = OrderItemSerializer(source="item_list", many=True, read_only=True)

    class Meta:
        model = Order
        fields = ["id", "status", "delivery_address", "total", "items", "created_at"]


class OrderLineSerializer(serializers.Serializer):
    product_id = serializers.IntegerField(min_value=1)
    quantity = serializers.IntegerField(min_value=1, validators=[check_line_quantity])


class CreateOrderSerializer(serializers.Serializer):
    delivery_address = serializers.CharField(max_length=1000, required=False, allow_blank=True, default="")
    items = OrderLineSerializer(
        many=True,
        required=False,
        allow_empty=False,
        max_length=settings.MAX_ORDER_UNITS,
        help_text="Order these lines instead of the cart's (the cart is left as it is): one request per order.",
    )

    def validate_items(self, items: list[dict]) -> dict[int, int]:
        lines: dict[int, int] = {}
        for line in items:
            lines[line["product_id"]] = lines.get(line["product_id"], 0) + line["quantity"]
        for quantity in lines.values():
            check_line_quantity(quantity)  # a product named twice counts once, in full
        return lines


class ExportQueuedSerializer(serializers.Serializer):
    task_id = serializers.CharField()
    name = serializers.CharField(help_text="The export's file name.")
    url = serializers.URLField(help_text="Where staff download it: 404 until it is written, then the CSV.")
    detail = serializers.CharField()
