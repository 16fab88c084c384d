"""Everything under /api/ answers JSON, errors included."""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse

# Django's own error pages (HTML, and in DEBUG the technical 404 page) and the
# empty body of a plain Django 405, as an API client expects them.
DETAILS = {404: "Not found.", 405: "Method not allowed."}


class JsonApiErrorsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        is_json = response.get("Content-Type", "").startswith("application/json")
        if request.path.startswith("/api/") and response.status_code in DETAILS and not is_json:
            replacement = JsonResponse({"detail": DETAILS[response.status_code]}, status=response.status_code)
            if allow := response.get("Allow"):
                replacement["Allow"] = allow
            return replacement
        return response
