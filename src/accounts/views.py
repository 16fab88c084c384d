from rest_framework import generics, permissions
from rest_framework.throttling import ScopedRateThrottle
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView

from .serializers import RegisterSerializer, UserSerializer


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


class RefreshView(AuthThrottled, TokenRefreshView):
    """Exchange a refresh token for a new access token."""


class MeView(generics.RetrieveAPIView):
    serializer_class = UserSerializer

    def get_object(self):
        return self.request.user
