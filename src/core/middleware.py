"""Everything under /api/ answers JSON, errors included; the admin's pages carry a Content-Security-Policy."""

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


# Django's admin has no inline scripts or styles: its pages need nothing but their own
# origin's, are framed by no one (clickjacking) and post only to themselves. An injected
# script or a form pointed elsewhere is refused by the browser.
ADMIN_CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


class AdminContentSecurityPolicyMiddleware:
    """Every admin page (any admin site's, its redirects and 404s too) carries ADMIN_CONTENT_SECURITY_POLICY."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        match = request.resolver_match
        if match is not None and "admin" in match.app_names:
            response.setdefault("Content-Security-Policy", ADMIN_CONTENT_SECURITY_POLICY)
        return response
