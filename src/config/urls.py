from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.authentication import SessionAuthentication

from accounts.authentication import JWTAuthentication
from core import health, root
from core.docs_access import DocsAccess

# The schema and the docs page: API_DOCS decides who sees them (staff: an admin session or a staff JWT).
DOCS = {"permission_classes": [DocsAccess], "authentication_classes": [SessionAuthentication, JWTAuthentication]}

api_v1 = [
    path("", root.api_root, name="api-root"),
    path("auth/", include("accounts.urls")),
    path("", include("catalog.urls")),
    path("cart/", include("cart.urls")),
    path("orders/", include("orders.urls")),
    path("", include("support.urls")),
    path("health/", health.liveness, name="health"),
    path("health/ready/", health.readiness, name="health-ready"),
    path("schema/", SpectacularAPIView.as_view(**DOCS), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema", **DOCS), name="docs"),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
]

handler404 = "core.exceptions.not_found"
handler500 = "core.exceptions.server_error"
