from collections.abc import Callable

from django.core.cache import cache
from django.http import HttpResponse, QueryDict
from django.utils.http import urlencode
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework import filters, permissions, viewsets
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from core.pagination import EstimatingPagination

from . import cache as catalog_cache
from . import search
from .filters import BoundedSearchFilter, ProductFilter
from .models import Category, Product
from .serializers import CategorySerializer, ProductSerializer


class CachedReads(viewsets.ReadOnlyModelViewSet):
    """Lists and details served from the catalogue cache (rendered bodies, see catalog/cache.py)."""

    # Query parameters the views read; anything else changes nothing but would
    # make a new cache entry for every junk value. A search is keyed by its words
    # (catalog/search.py: lowercased, each once, no punctuation): bounded
    # (catalog/filters.py), and shoppers repeat the popular ones, which cost the most.
    KEYED = frozenset({"page", "page_size", "ordering", "category", "min_price", "max_price", "in_stock", "search"})

    def cached(self, request: Request, kind: str, render: Callable[[], Response]) -> HttpResponse:
        """The rendered body from the cache, or rendered now and cached; 200 responses only."""
        self.check_input(request)
        query = self.keyed_query(request)
        key = catalog_cache.response_key(kind, f"{request.scheme}://{request.get_host()}", query)
        body = cache.get(key)
        if body is None:
            # Rendered from the normalised query, so the cached next/previous links carry no one's junk.
            request._request.GET = QueryDict(query)
            request._request.META["QUERY_STRING"] = query
            response = render()
            if response.status_code != 200:
                return response
            body = JSONRenderer().render(response.data)
            cache.set(key, body, catalog_cache.timeout())
        return HttpResponse(body, content_type="application/json")

    def check_input(self, request: Request) -> None:
        """Refuse (400) what the query asks before it is keyed, as the client sent it."""

    def keyed_query(self, request: Request) -> str:
        """Known parameters only, in one order, and only orderings that apply: one entry per distinct answer."""
        orderable = set(getattr(self, "ordering_fields", None) or ())
        known = []
        for name, values in request.query_params.lists():
            if name == "ordering":
                values = [",".join(t for t in v.split(",") if t.strip().lstrip("-") in orderable) for v in values]
                values = [v for v in values if v]
            if name == "search":  # punctuation alone stays a search (of nothing), not none
                values = [" ".join(search.words(v)) or ("-" if v.strip() else "") for v in values]
            if name in self.KEYED and values:
                known.append((name, values))
        return urlencode(sorted(known), doseq=True)

    def list(self, request: Request, *args, **kwargs) -> HttpResponse:
        kind = f"{self.basename}:list"
        return self.cached(request, kind, lambda: super(CachedReads, self).list(request, *args, **kwargs))

    def retrieve(self, request: Request, *args, **kwargs) -> HttpResponse:
        kind = f"{self.basename}:detail:{kwargs.get(self.lookup_field, '')}"
        return self.cached(request, kind, lambda: super(CachedReads, self).retrieve(request, *args, **kwargs))


class CategoryViewSet(CachedReads):
    queryset = Category.objects.all()
    serializer_class = CategorySerializer
    permission_classes = [permissions.AllowAny]


class ProductViewSet(CachedReads):
    """Active products: filter, search and order. Staff manage products in the admin."""

    queryset = Product.objects.filter(is_active=True).select_related("category")
    serializer_class = ProductSerializer
    permission_classes = [permissions.AllowAny]
    filter_backends = [DjangoFilterBackend, BoundedSearchFilter, filters.OrderingFilter]
    filterset_class = ProductFilter
    pagination_class = EstimatingPagination
    search_fields = ["name", "description"]
    ordering_fields = ["price", "name", "created_at", "stock"]

    def check_input(self, request: Request) -> None:
        if self.action == "list":
            BoundedSearchFilter().get_search_terms(request)

    def filter_queryset(self, queryset):
        # Filters, search and ordering shape lists; one product needs none of
        # their work (building the filter form cost most of a detail request).
        return queryset if self.action == "retrieve" else super().filter_queryset(queryset)
