"""OpenAPI: the project's JWT authentication is described as simplejwt's (same scheme, same name)."""

from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme


class SessionEndingJWTScheme(SimpleJWTScheme):
    target_class = "accounts.authentication.JWTAuthentication"
