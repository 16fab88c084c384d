from decimal import Decimal

from django.conf import settings
from django.db import models
from django.utils.functional import cached_property

from catalog.models import Product


class Order(models.Model):
    class Status(models.TextChoices):
        PLACED = "placed", "Placed"
        PACKED = "packed", "Packed"
        OUT_FOR_DELIVERY = "out_for_delivery", "Out for delivery"
        DELIVERED = "delivered", "Delivered"
        CANCELLED = "cancelled", "Cancelled"

    # Orders that no longer count against a user's open-order limit.
    CLOSED = (Status.DELIVERED, Status.CANCELLED)

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="orders")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PLACED, db_index=True)
    delivery_address = models.TextField(blank=True)
    total = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0.00"))
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    confirmation_sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # Confirmation runs and the sweep read the orders not yet confirmed: a few among many.
            models.Index(
                fields=["id"], condition=models.Q(confirmation_sent_at__isnull=True), name="order_unconfirmed"
            ),
        ]

    def __str__(self) -> str:
        return f"Order #{self.pk} ({self.user})"

    # The order's items as the API reads them (OrderSerializer): a query here, unless a
    # Prefetch(to_attr="item_list") (orders.services.with_items) or place_order set them first.
    @cached_property
    def item_list(self) -> list["OrderItem"]:
        return list(self.items.all())


class OrderItem(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="items")
    # The product may later be removed; the snapshot below keeps the order readable.
    product = models.ForeignKey(Product, on_delete=models.SET_NULL, null=True, related_name="+")
    product_name = models.CharField(max_length=200)
    unit_price = models.DecimalField(max_digits=10, decimal_places=2)
    quantity = models.PositiveIntegerField()

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.quantity} x {self.product_name}"

    @property
    def line_total(self) -> Decimal:
        return self.unit_price * self.quantity
