"""One JSON error shape for the whole API, including Django's own 404/500."""

import logging

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, JsonResponse
from rest_framework import exceptions, status, views
from rest_framework.response import Response

log = logging.getLogger(__name__)


class TooSlow(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "The request took too long and was stopped; try again, or narrow the search."
    default_code = "statement_timeout"


class ServiceUnavailable(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "The service is briefly unavailable; try again in a moment."
    default_code = "unavailable"


def cancelled_by_timeout(exc: Exception) -> bool:
    """A statement the server cancelled (statement_timeout): SQLSTATE 57014, query_canceled."""
    return isinstance(exc, OperationalError) and getattr(exc.__cause__, "sqlstate", None) == "57014"


def exception_handler(exc: Exception, context: dict) -> Response | None:
    """DRF's handler; model ValidationErrors are 400, cancelled statements and an unavailable database 503."""
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages}
        exc = exceptions.ValidationError(detail)
    elif cancelled_by_timeout(exc):
        request = context.get("request")
        log.warning("statement timeout on %s", request.get_full_path()[:300] if request else "?")
        exc = TooSlow()
    elif isinstance(exc, (OperationalError, InterfaceError)):
        # The database is down, stalled or unreachable (core/postgres bounds each wait): the client may retry.
        log.error("database unavailable: %s", exc)
        exc = ServiceUnavailable()
    response = views.exception_handler(exc, context)
    if isinstance(exc, ServiceUnavailable) and response is not None:
        response["Retry-After"] = "5"
    return response


def not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return JsonResponse({"detail": "Not found."}, status=404)


def server_error(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"detail": "Internal server error."}, status=500)
