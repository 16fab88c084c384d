from django.contrib import admin

from .models import Ticket, TicketMessage


class TicketMessageInline(admin.StackedInline):
    model = TicketMessage
    extra = 1
    raw_id_fields = ["author"]


@admin.register(Ticket)
class TicketAdmin(admin.ModelAdmin):
    list_display = ["id", "subject", "user", "status", "updated_at"]
    list_filter = ["status"]
    search_fields = ["subject", "user__email"]
    inlines = [TicketMessageInline]
