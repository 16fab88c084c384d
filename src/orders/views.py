import io

from django.http import HttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import generics, permissions, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from .exports import write_orders_csv
from .models import Order
from .serializers import CreateOrderSerializer, ExportQueuedSerializer, OrderSerializer
from .services import EmptyCart, LimitReached, OutOfStock, place_order
from .tasks import export_orders_csv


class OrderCreateView(APIView):
    @extend_schema(
        request=CreateOrderSerializer,
        responses={201: OrderSerializer, 400: OpenApiTypes.OBJECT, 409: OpenApiTypes.OBJECT},
    )
    def post(self, request: Request) -> Response:
        data = CreateOrderSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            order = place_order(request.user, data.validated_data["delivery_address"], data.validated_data.get("items"))
        except EmptyCart:
            return Response(
                {"detail": "Your cart is empty; add products before ordering."}, status=status.HTTP_400_BAD_REQUEST
            )
        except LimitReached as exc:
            return Response({"detail": exc.detail}, status=status.HTTP_409_CONFLICT)
        except OutOfStock as exc:
            return Response(
                {"detail": "Not enough stock for some products; update your cart.", "shortages": exc.shortages},
                status=status.HTTP_409_CONFLICT,
            )
        return Response(OrderSerializer(order).data, status=status.HTTP_201_CREATED)


class OrderListView(generics.ListAPIView):
    serializer_class = OrderSerializer
    queryset = Order.objects.none()  # for the schema; get_queryset scopes to the caller

    def get_queryset(self):
        # Only the caller's orders: another user's order id is a 404, not a 403.
        return Order.objects.filter(user=self.request.user).prefetch_related("items")


class OrderDetailView(generics.RetrieveAPIView):
    serializer_class = OrderSerializer
    queryset = Order.objects.none()  # for the schema; get_queryset scopes to the caller

    def get_queryset(self):
        return Order.objects.filter(user=self.request.user).prefetch_related("items")


class OrderExportView(APIView):
    permission_classes = [permissions.IsAdminUser]

    @extend_schema(responses={(200, "text/csv"): OpenApiTypes.STR})
    def get(self, request: Request) -> HttpResponse:
        """Every order item as CSV (staff only). For large exports, POST instead."""
        out = io.StringIO()
        write_orders_csv(Order.objects.order_by("pk"), out)
        response = HttpResponse(out.getvalue(), content_type="text/csv")
        response["Content-Disposition"] = f'attachment; filename="orders-{timezone.now():%Y%m%d}.csv"'
        return response

    @extend_schema(request=None, responses={202: ExportQueuedSerializer})
    def post(self, request: Request) -> Response:
        """Queue a CSV export of all orders to the export directory (staff only)."""
        result = export_orders_csv.delay()
        return Response({"task_id": result.id, "detail": "Export queued."}, status=status.HTTP_202_ACCEPTED)
