from django.core.cache import cache
from django.utils.http import urlencode
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework import filters, permissions, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from . import cache as catalog_cache
from .filters import ProductFilter
from .models import Category, Product
from .serializers import CategorySerializer, ProductSerializer


class CategoryViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = Category.objects.all()
    serializer_class = CategorySerializer
    permission_classes = [permissions.AllowAny]


class ProductViewSet(viewsets.ReadOnlyModelViewSet):
    """Active products: filter, search and order. Staff manage products in the admin."""

    queryset = Product.objects.filter(is_active=True).select_related("category")
    serializer_class = ProductSerializer
    permission_classes = [permissions.AllowAny]
    filter_backends = [DjangoFilterBackend, filters.SearchFilter, filters.OrderingFilter]
    filterset_class = ProductFilter
    search_fields = ["name", "description"]
    ordering_fields = ["price", "name", "created_at", "stock"]

    def list(self, request: Request, *args, **kwargs) -> Response:
        # The normalised query string is the key: the same filters in another
        # order hit the same entry.
        key = catalog_cache.list_key(urlencode(sorted(request.query_params.lists()), doseq=True))
        data = cache.get(key)
        if data is None:
            data = super().list(request, *args, **kwargs).data
            cache.set(key, data, catalog_cache.timeout())
        return Response(data)
