from django.conf import settings
from django.db import transaction
from django.db.models import Count, Prefetch, QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import BaseThrottle, ScopedRateThrottle

from .models import Ticket, TicketMessage
from .serializers import TicketMessageSerializer, TicketSerializer


def with_newest_messages(tickets: QuerySet[Ticket]) -> QuerySet[Ticket]:
    """`tickets` with their message count and their newest TICKET_DETAIL_MESSAGES messages, in two queries.

    A ticket may have thousands of messages; the list and detail carry a bounded
    number (in `newest_messages`, newest first), the rest are a page away.
    """
    newest = TicketMessage.objects.select_related("author").order_by("-created_at", "-id")
    return (
        tickets.annotate(message_count=Count("messages"))
        # A GROUP BY query drops Meta.ordering; pages need a stable order.
        .order_by(*Ticket._meta.ordering)
        .prefetch_related(
            Prefetch("messages", queryset=newest[: settings.TICKET_DETAIL_MESSAGES], to_attr="newest_messages")
        )
    )


class TicketViewSet(mixins.CreateModelMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Support tickets: users see their own, staff see and answer all."""

    queryset = Ticket.objects.none()  # for the schema; get_queryset scopes to the caller
    # Customers' posts (new tickets and messages together) share the `support` rate, per account.
    throttle_scope = "support"

    def get_queryset(self) -> QuerySet[Ticket]:
        tickets = Ticket.objects.select_related("user")
        if not self.request.user.is_staff:
            tickets = tickets.filter(user=self.request.user)
        # The messages action reads its own page of messages; the ticket alone is enough there.
        return tickets if self.action == "messages" else with_newest_messages(tickets)

    def get_serializer_class(self) -> type[TicketSerializer | TicketMessageSerializer]:
        return TicketMessageSerializer if self.action == "messages" else TicketSerializer

    def get_throttles(self) -> list[BaseThrottle]:
        # Reading is free, and staff answering every customer must never wait on a customer's rate.
        if self.request.method == "POST" and not self.request.user.is_staff:
            return [ScopedRateThrottle()]
        return []

    def perform_create(self, serializer: TicketSerializer) -> None:
        with transaction.atomic():
            ticket = serializer.save(user=self.request.user)
        # Answered as the detail shows it, message count included.
        serializer.instance = self.get_queryset().get(pk=ticket.pk)

    @extend_schema(
        methods=["GET"],
        responses=TicketMessageSerializer(many=True),
        description="Every message of the ticket, oldest first, a page at a time.",
    )
    @extend_schema(
        methods=["POST"],
        request=TicketMessageSerializer,
        responses={201: TicketMessageSerializer},
        description="Add a message: staff answering sets the ticket answered, the customer reopens it. "
        "Customers' posts count against SUPPORT_THROTTLE_RATE (429 past it).",
    )
    @action(detail=True, methods=["get", "post"])
    def messages(self, request: Request, pk: str | None = None) -> Response:
        ticket = self.get_object()
        if request.method == "GET":
            page = self.paginate_queryset(ticket.messages.select_related("author"))
            return self.get_paginated_response(self.get_serializer(page, many=True).data)
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        with transaction.atomic():
            message = serializer.save(ticket=ticket, author=request.user)
            # Staff replying answers the ticket; the customer replying reopens it.
            ticket.status = Ticket.Status.ANSWERED if request.user.is_staff else Ticket.Status.OPEN
            ticket.save(update_fields=["status", "updated_at"])
        return Response(self.get_serializer(message).data, status=status.HTTP_201_CREATED)
