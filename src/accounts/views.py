from rest_framework import generics, permissions, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework_simplejwt.views import TokenBlacklistView, TokenObtainPairView, TokenRefreshView

from .serializers import (
    LoginSerializer,
    LogoutSerializer,
    PasswordChangeSerializer,
    RefreshSerializer,
    RegisterSerializer,
    UserSerializer,
)


class AuthThrottled:
    """Brute-force protection: the `auth` rate in REST_FRAMEWORK applies per client IP."""

    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "auth"


class RegisterView(AuthThrottled, generics.CreateAPIView):
    serializer_class = RegisterSerializer
    permission_classes = [permissions.AllowAny]
    authentication_classes: list = []


class LoginView(AuthThrottled, TokenObtainPairView):
    """Exchange email and password for an access and a refresh token."""

    serializer_class = LoginSerializer


class RefreshView(AuthThrottled, TokenRefreshView):
    """Exchange a refresh token for a new access token and a new refresh token (the old one stops working)."""

    serializer_class = RefreshSerializer


class LogoutView(AuthThrottled, TokenBlacklistView):
    """Log out: the refresh token given, and every access token of its session, stop working at once."""

    serializer_class = LogoutSerializer


class PasswordChangeView(generics.GenericAPIView):
    """Change your password: every token issued before stops working; log in again."""

    serializer_class = PasswordChangeSerializer

    def post(self, request: Request) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        request.user.set_password(serializer.validated_data["new_password"])
        # The password only: request.user may be a cached copy (accounts/user_cache.py), and writing back
        # every column would undo a change an admin made since it was cached.
        request.user.save(update_fields=["password"])
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeView(generics.RetrieveAPIView):
    serializer_class = UserSerializer

    def get_object(self):
        return self.request.user
