import django_filters

from .models import Product


class ProductFilter(django_filters.FilterSet):
    category = django_filters.CharFilter(method="filter_category", help_text="Category id or slug.")
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
        if value.isdigit():
            return queryset.filter(category_id=int(value))
        return queryset.filter(category__slug=value)

    def filter_in_stock(self, queryset, name, value):
        return queryset.filter(stock__gt=0) if value in ("true", "1") else queryset.filter(stock=0)
