import io

from django.conf import settings
from django.db.models import QuerySet
from django.http import FileResponse, HttpResponse
from django.http.response import HttpResponseBase
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import generics, permissions, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from .exports import export_file, new_export_name, write_orders_csv
from .models import Order
from .serializers import CreateOrderSerializer, ExportQueuedSerializer, OrderSerializer
from .services import EmptyCart, LimitReached, OutOfStock, place_order, with_items
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


# The caller's orders only, with their items: another user's order id is a 404, not a 403.
# (A comment, not a docstring: the schema would show it as the list's and the detail's description.)
class OwnOrders:
    serializer_class = OrderSerializer
    queryset = Order.objects.none()  # for the schema; get_queryset scopes to the caller

    def get_queryset(self) -> QuerySet[Order]:
        return with_items(Order.objects.filter(user=self.request.user))


class OrderListView(OwnOrders, generics.ListAPIView):
    pass


class OrderDetailView(OwnOrders, generics.RetrieveAPIView):
    pass


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
        """Queue a CSV export of all orders (staff only); the answer names it and where to download it."""
        name = new_export_name()
        result = export_orders_csv.delay(name)
        url = request.build_absolute_uri(reverse("order-export-file", args=[name]))
        return Response(
            {"task_id": result.id, "name": name, "url": url, "detail": "Export queued: GET url until it answers 200."},
            status=status.HTTP_202_ACCEPTED,
            headers={"Location": url},
        )


class OrderExportFileView(APIView):
    permission_classes = [permissions.IsAdminUser]

    @extend_schema(
        # Named: derived from the path, it would repeat GET orders/export/'s (orders_export_retrieve).
        operation_id="orders_export_file_retrieve",
        responses={(200, "text/csv"): OpenApiTypes.BINARY, 404: OpenApiTypes.OBJECT},
    )
    def get(self, request: Request, name: str) -> HttpResponseBase:
        """A queued export, once written (staff only); 404 before, and after ORDER_EXPORT_KEEP_DAYS.

        Served by Django: exports are small and rare, and only web and the
        worker mount the volume they are on (the proxy does not).
        """
        try:
            path = export_file(name)
        except ValueError as exc:
            return Response({"detail": f"No such export: {exc}."}, status=status.HTTP_404_NOT_FOUND)
        try:
            # Opened at once, not checked first: a purge between the two would be a 500.
            file = path.open("rb")
        except FileNotFoundError:
            return Response(
                {
                    "detail": f"Export {name} is not there: not written yet (try again in a few seconds), failed, "
                    f"or deleted after {settings.ORDER_EXPORT_KEEP_DAYS} days."
                },
                status=status.HTTP_404_NOT_FOUND,
            )
        return FileResponse(file, as_attachment=True, filename=name, content_type="text/csv; charset=utf-8")
