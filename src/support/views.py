from django.db import transaction
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from .models import Ticket
from .serializers import TicketMessageSerializer, TicketSerializer


class TicketViewSet(mixins.CreateModelMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Support tickets: users see their own, staff see and answer all."""

    serializer_class = TicketSerializer
    queryset = Ticket.objects.none()  # for the schema; get_queryset scopes to the caller

    def get_queryset(self):
        tickets = Ticket.objects.select_related("user").prefetch_related("messages__author")
        return tickets if self.request.user.is_staff else tickets.filter(user=self.request.user)

    def perform_create(self, serializer: TicketSerializer) -> None:
        with transaction.atomic():
            serializer.save(user=self.request.user)

    @extend_schema(request=TicketMessageSerializer, responses={201: TicketMessageSerializer})
    @action(detail=True, methods=["post"])
    def messages(self, request: Request, pk: str | None = None) -> Response:
        ticket = self.get_object()
        serializer = TicketMessageSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        with transaction.atomic():
            message = serializer.save(ticket=ticket, author=request.user)
            # Staff replying answers the ticket; the customer replying reopens it.
            ticket.status = Ticket.Status.ANSWERED if request.user.is_staff else Ticket.Status.OPEN
            ticket.save(update_fields=["status", "updated_at"])
        return Response(
            TicketMessageSerializer(message, context={"request": request}).data, status=status.HTTP_201_CREATED
        )
