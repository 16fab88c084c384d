import json
from functools import cached_property

from django.conf import settings
from django.core.paginator import EmptyPage, InvalidPage, Page, PageNotAnInteger
from django.core.paginator import Paginator as DjangoPaginator
from django.db import connections
from django.db.models import QuerySet
from rest_framework import pagination
from rest_framework.response import Response


class EstimatingPaginator(DjangoPaginator):
    """Django's paginator, except that a list PostgreSQL's planner expects to hold ESTIMATED_COUNT_FROM
    rows or more is not counted: its count is the planner's estimate (`estimated`). Counting 200,000
    products took most of a page's time, and grows with the catalogue; a shopper needs "about how many".

    With an estimated count, a page past it (up to twice as far) is an empty page, not a 404, and no page is
    cut short at it.
    """

    estimated = False

    @cached_property
    def count(self) -> int:
        rows = self.object_list
        if isinstance(rows, QuerySet) and not rows.query.is_empty() and connections[rows.db].vendor == "postgresql":
            plan = json.loads(rows.explain(format="json"))
            estimate = int(plan[0]["Plan"]["Plan Rows"])
            if estimate >= settings.ESTIMATED_COUNT_FROM:
                self.estimated = True
                return estimate
        return super().count

    def validate_number(self, number: object) -> int:
        if not (self.count and self.estimated):  # count first: it decides `estimated`
            return super().validate_number(number)
        try:
            page = int(number)  # type: ignore[arg-type]
        except (TypeError, ValueError) as error:
            raise PageNotAnInteger("That page number is not an integer") from error
        if page < 1:
            raise InvalidPage("That page number is less than 1")
        # Past twice the estimate the list has surely ended: a 404, as for a counted list, before a
        # huge page makes an OFFSET past PostgreSQL's bigint (a 500) or one more cache entry.
        if page > 2 * self.num_pages:
            raise EmptyPage("That page contains no results")
        return page

    def page(self, number: object) -> Page:
        number = self.validate_number(number)
        if not self.estimated:
            return super().page(number)
        bottom = (number - 1) * self.per_page
        return self._get_page(self.object_list[bottom : bottom + self.per_page], number, self)


class PageNumberPagination(pagination.PageNumberPagination):
    """`?page=N&page_size=M`; page_size is capped so one request stays cheap."""

    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 100


class EstimatingPagination(PageNumberPagination):
    """For lists that grow large (the catalogue): `count_is_estimate` says whether `count` is
    PostgreSQL's estimate (EstimatingPaginator) or exact. Other lists are counted: they are a
    user's own, and short."""

    django_paginator_class = EstimatingPaginator

    def get_paginated_response(self, data) -> Response:
        response = super().get_paginated_response(data)
        response.data["count_is_estimate"] = self.page.paginator.estimated
        return response

    def get_paginated_response_schema(self, schema: dict) -> dict:
        paginated = super().get_paginated_response_schema(schema)
        paginated["properties"]["count_is_estimate"] = {
            "type": "boolean",
            "description": "Whether count is the database's estimate (a list of many thousands) or exact.",
        }
        return paginated
