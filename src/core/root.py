"""The API root: what a newcomer opening /api/v1/ in a browser sees."""

from drf_spectacular.utils import extend_schema
from rest_framework.decorators import api_view, permission_classes
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse

# Entry points by name; the rest of the API is reached from these (and the docs).
LINKS = {
    "products": "product-list",
    "categories": "category-list",
    "register": "register",
    "login": "login",
    "cart": "cart",
    "orders": "order-list",
    "tickets": "ticket-list",
    "docs": "docs",
    "schema": "schema",
    "health": "health-ready",
}


@extend_schema(exclude=True)
@api_view(["GET"])
@permission_classes([AllowAny])
def api_root(request: Request) -> Response:
    """Links to the API's entry points."""
    return Response({name: reverse(url_name, request=request) for name, url_name in LINKS.items()})
