from rest_framework import serializers

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
    messages = TicketMessageSerializer(many=True, read_only=True)
    user = serializers.EmailField(source="user.email", read_only=True)

    class Meta:
        model = Ticket
        fields = ["id", "user", "order", "subject", "status", "message", "messages", "created_at", "updated_at"]
        read_only_fields = ["id", "user", "status", "messages", "created_at", "updated_at"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        request = self.context.get("request")
        if request is not None and request.user.is_authenticated:
            # A ticket may only be about one of the caller's own orders.
            self.fields["order"].queryset = Order.objects.filter(user=request.user)

    def create(self, validated_data: dict) -> Ticket:
        body = validated_data.pop("message")
        ticket = Ticket.objects.create(**validated_data)
        TicketMessage.objects.create(ticket=ticket, author=ticket.user, body=body)
        return ticket
