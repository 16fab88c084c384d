from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.utils.serializer_helpers import ReturnList

from orders.models import Order

from .models import Ticket, TicketMessage

SUPPORT_NAME = "DesiDeliver support"


class TicketMessageSerializer(serializers.ModelSerializer):
    author = serializers.SerializerMethodField()
    from_staff = serializers.BooleanField(source="author.is_staff", read_only=True)

    def get_author(self, message: TicketMessage) -> str:
        """Customers see the support team's name, never a staff member's address."""
        request = self.context.get("request")
        viewer_is_staff = request is not None and request.user.is_staff
        return message.author.email if viewer_is_staff or not message.author.is_staff else SUPPORT_NAME

    class Meta:
        model = TicketMessage
        fields = ["id", "author", "from_staff", "body", "created_at"]
        read_only_fields = ["id", "author", "from_staff", "created_at"]
        extra_kwargs = {"body": {"max_length": 5000}}


class TicketSerializer(serializers.ModelSerializer):
    order = serializers.PrimaryKeyRelatedField(queryset=Order.objects.none(), required=False, allow_null=True)
    message = serializers.CharField(write_only=True, max_length=5000, help_text="The first message of the ticket.")
    messages = serializers.SerializerMethodField(
        help_text=f"The newest messages, at most TICKET_DETAIL_MESSAGES ({settings.TICKET_DETAIL_MESSAGES}), "
        "oldest first; every message is at GET tickets/{id}/messages/, a page at a time."
    )
    message_count = serializers.IntegerField(
        read_only=True, help_text="How many messages the ticket has in all; more than `messages` holds when capped."
    )
    user = serializers.EmailField(source="user.email", read_only=True)

    class Meta:
        model = Ticket
        fields = [
            "id",
            "user",
            "order",
            "subject",
            "status",
            "message",
            "messages",
            "message_count",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "user", "status", "created_at", "updated_at"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        request = self.context.get("request")
        if request is not None and request.user.is_authenticated:
            # A ticket may only be about one of the caller's own orders.
            self.fields["order"].queryset = Order.objects.filter(user=request.user)

    @extend_schema_field(TicketMessageSerializer(many=True))
    def get_messages(self, ticket: Ticket) -> ReturnList:
        # Prefetched newest first (support.views.with_newest_messages); a conversation reads oldest first.
        return TicketMessageSerializer(reversed(ticket.newest_messages), many=True, context=self.context).data

    def create(self, validated_data: dict) -> Ticket:
        body = validated_data.pop("message")
        ticket = Ticket.objects.create(**validated_data)
        TicketMessage.objects.create(ticket=ticket, author=ticket.user, body=body)
        return ticket
