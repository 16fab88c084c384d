"""Who may read the OpenAPI schema and the docs page: the API_DOCS setting."""

from django.conf import settings
from rest_framework.exceptions import NotFound
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.views import APIView

CHOICES = ("public", "staff", "off")


class DocsAccess(BasePermission):
    """public: anyone; staff: staff users (admin session or JWT); off: a 404, as if there were none."""

    def has_permission(self, request: Request, view: APIView) -> bool:
        if settings.API_DOCS == "off":
            raise NotFound
        return settings.API_DOCS == "public" or bool(request.user and request.user.is_staff)
