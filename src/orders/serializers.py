from rest_framework import serializers

from .models import Order, OrderItem


class OrderItemSerializer(serializers.ModelSerializer):
    line_total = serializers.DecimalField(max_digits=12, decimal_places=2, read_only=True)

    class Meta:
        model = OrderItem
        fields = ["id", "product", "product_name", "unit_price", "quantity", "line_total"]


class OrderSerializer(serializers.ModelSerializer):
    items = OrderItemSerializer(many=True, read_only=True)

    class Meta:
        model = Order
        fields = ["id", "status", "delivery_address", "total", "items", "created_at"]


class CreateOrderSerializer(serializers.Serializer):
    delivery_address = serializers.CharField(max_length=1000, required=False, allow_blank=True, default="")


class ExportQueuedSerializer(serializers.Serializer):
    task_id = serializers.CharField()
    detail = serializers.CharField()
