import django_filters
from django.conf import settings
from rest_framework import filters
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request

from . import search
from .models import Product


class BoundedSearchFilter(filters.SearchFilter):
    """Product search (catalog/search.py), refusing a query longer than SEARCH_MAX_LENGTH or with more than
    SEARCH_MAX_TERMS words.

    Unbounded, one anonymous request of a thousand words held the database for minutes (each word was
    then a pattern match over every product). Refused with a 400 before any query runs; the statement
    timeout (DATABASE_STATEMENT_TIMEOUT) bounds the rest.
    """

    search_description = (
        "Words to find in a product's name or description, each as the start of a word; products whose name "
        "holds them come first (at most {terms} words, {length} characters)."
    )

    def filter_queryset(self, request: Request, queryset, view):
        terms = self.get_search_terms(request)
        if terms:
            return search.matching(queryset, terms)
        # A search of punctuation alone finds nothing; no search at all leaves the list whole.
        return queryset.none() if request.query_params.get(self.search_param, "").strip() else queryset

    def get_search_description(self) -> str:
        return self.search_description.format(terms=settings.SEARCH_MAX_TERMS, length=settings.SEARCH_MAX_LENGTH)

    def get_schema_operation_parameters(self, view) -> list[dict]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            parameter["description"] = self.get_search_description()
            parameter["schema"]["maxLength"] = settings.SEARCH_MAX_LENGTH
        return parameters

    def get_search_terms(self, request: Request) -> list[str]:
        text = request.query_params.get(self.search_param, "")
        if len(text) > settings.SEARCH_MAX_LENGTH:
            raise ValidationError(
                {self.search_param: [f"At most {settings.SEARCH_MAX_LENGTH} characters; this has {len(text)}."]}
            )
        # Counted as the search counts them: "a.b.c" is three words, "rice rice" one.
        terms = search.words(text)
        if len(terms) > settings.SEARCH_MAX_TERMS:
            raise ValidationError(
                {self.search_param: [f"At most {settings.SEARCH_MAX_TERMS} words; this has {len(terms)}."]}
            )
        return terms


class ProductFilter(django_filters.FilterSet):
    category = django_filters.CharFilter(method="filter_category", max_length=100, help_text="Category id or slug.")
    min_price = django_filters.NumberFilter(field_name="price", lookup_expr="gte")
    max_price = django_filters.NumberFilter(field_name="price", lookup_expr="lte")
    # A choice, not a BooleanFilter: that one silently ignores values like "maybe".
    in_stock = django_filters.ChoiceFilter(
        method="filter_in_stock", choices=[(v, v) for v in ("true", "false", "1", "0")], help_text="true or false."
    )

    class Meta:
        model = Product
        fields = ["category", "min_price", "max_price", "in_stock"]

    def filter_category(self, queryset, name, value):
        # isdigit() alone takes "²" and other Unicode digits, which int() refuses.
        if value.isascii() and value.isdigit():
            category_id = int(value)
            # No id is past a 64-bit integer, and SQLite refuses to compare with one.
            return queryset.filter(category_id=category_id) if category_id < 2**63 else queryset.none()
        return queryset.filter(category__slug=value)

    def filter_in_stock(self, queryset, name, value):
        return queryset.filter(stock__gt=0) if value in ("true", "1") else queryset.filter(stock=0)
