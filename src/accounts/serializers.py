from django.contrib.auth import password_validation
from django.contrib.auth.hashers import make_password
from django.db import IntegrityError, transaction
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers
from rest_framework.exceptions import AuthenticationFailed
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.serializers import (
    TokenBlacklistSerializer,
    TokenObtainPairSerializer,
    TokenRefreshSerializer,
)
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken
from rest_framework_simplejwt.tokens import RefreshToken
from rest_framework_simplejwt.utils import get_md5_hash_password

from core.exceptions import ServiceUnavailable

from . import sessions
from .models import User
from .tasks import queue_account_exists_notice


class UserSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "email", "first_name", "last_name", "is_staff", "date_joined"]
        read_only_fields = fields


def validate_new_password(field: str, password: str, user: User) -> None:
    try:
        password_validation.validate_password(password, user)
    except Exception as exc:  # django ValidationError; messages go to the client
        raise serializers.ValidationError({field: list(getattr(exc, "messages", [str(exc)]))}) from exc


class LoginSerializer(TokenObtainPairSerializer):
    """simplejwt's login, naming a new session in the tokens (accounts/sessions.py)."""

    @classmethod
    def get_token(cls, user: User):
        token = super().get_token(user)
        token[sessions.CLAIM] = sessions.new_session_id()
        return token


class LogoutSerializer(TokenBlacklistSerializer):
    """simplejwt's logout (the refresh token stops working), which also ends the session's access tokens."""

    def validate(self, attrs: dict) -> dict:
        # The session ends first: if that cannot be recorded, the refresh token still works for a retry.
        try:
            sessions.end(self.token_class(attrs["refresh"]).payload)
        except sessions.NotRecorded:
            raise ServiceUnavailable from None
        return super().validate(attrs)


class RotatedOnceRefreshToken(RefreshToken):
    """A refresh token that only one refresh may rotate, however many arrive at once.

    simplejwt checks the blacklist when it reads the token and blacklists it with
    get_or_create, which succeeds for a token already there: two parallel refreshes
    both pass the check, then both "blacklist" it and both get a new pair. Here the
    blacklist row is the claim: its insert is unique per token, so exactly one
    refresh creates it, and every other one is refused like a reused token.
    """

    def blacklist(self) -> tuple[BlacklistedToken, bool]:
        blacklisted, created = super().blacklist()
        if not created:
            raise TokenError(_("Token is blacklisted"))
        return blacklisted, created


class RefreshSerializer(TokenRefreshSerializer):
    """Refresh, but a deleted, deactivated or re-passworded user's token is a 401, never a 500;
    and of concurrent refreshes of one token, one succeeds."""

    token_class = RotatedOnceRefreshToken

    def validate(self, attrs: dict) -> dict:
        token = self.token_class(attrs["refresh"])
        user = User.objects.filter(pk=token.payload.get(api_settings.USER_ID_CLAIM)).first()
        if user is None or not user.is_active:
            raise AuthenticationFailed("No active account found for the given token.", "no_active_account")
        if token.payload.get(api_settings.REVOKE_TOKEN_CLAIM) != get_md5_hash_password(user.password):
            raise AuthenticationFailed("The password has changed since this token was issued.", "password_changed")
        return super().validate(attrs)


class PasswordChangeSerializer(serializers.Serializer):
    current_password = serializers.CharField(write_only=True, style={"input_type": "password"})
    new_password = serializers.CharField(write_only=True, style={"input_type": "password"})

    def validate_current_password(self, value: str) -> str:
        if not self.context["request"].user.check_password(value):
            raise serializers.ValidationError("This is not your current password.")
        return value

    def validate(self, attrs: dict) -> dict:
        validate_new_password("new_password", attrs["new_password"], self.context["request"].user)
        return attrs


class RegisterSerializer(serializers.ModelSerializer):
    """A new account; an address already registered gets the same answer, and its owner a mail.

    The answer must not tell anyone whether an address has an account
    (docs/security.md), so there is no uniqueness check here and no `id` in the
    answer: create() makes nothing for a known address, mails its owner that they
    already have an account, and echoes the input as it does for a new one.
    """

    email = serializers.EmailField(max_length=254)
    password = serializers.CharField(write_only=True, style={"input_type": "password"})
    first_name = serializers.CharField(max_length=150)
    last_name = serializers.CharField(max_length=150)

    class Meta:
        model = User
        fields = ["email", "password", "first_name", "last_name"]

    def validate_email(self, value: str) -> str:
        return value.lower()

    def validate(self, attrs: dict) -> dict:
        candidate = User(email=attrs["email"], first_name=attrs["first_name"], last_name=attrs["last_name"])
        validate_new_password("password", attrs["password"], candidate)
        return attrs

    def create(self, validated_data: dict) -> User:
        email = validated_data["email"]
        existing = User.objects.filter(email__iexact=email).first()
        if existing is None:
            try:
                with transaction.atomic():
                    return User.objects.create_user(**validated_data)
            except IntegrityError:  # a parallel request registered the address a moment ago
                existing = User.objects.filter(email__iexact=email).first()
        else:
            # A new account costs a password hash; this answer must take as long.
            make_password(validated_data["password"])
        if existing is not None:
            queue_account_exists_notice(existing)
        return User(email=email, first_name=validated_data["first_name"], last_name=validated_data["last_name"])
