"""Who sent a request: simplejwt's access tokens, checked against what logout and the account say now.

Per authenticated request, one round trip to the `revocations` cache reads both whether the token's
session was ended by logout (accounts/sessions.py) and the user, as last read from the database
(accounts/user_cache.py); the database is read only when the user is not cached. A password change,
deactivation or deletion through the ORM drops the cached user at once, so the next request sees it.
"""

from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _
from rest_framework_simplejwt import authentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed, InvalidToken
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import Token
from rest_framework_simplejwt.utils import get_md5_hash_password

from . import user_cache


class JWTAuthentication(authentication.JWTAuthentication):
    """simplejwt's, refusing an access token whose session was ended by logout, with its user cached."""

    def get_user(self, validated_token: Token):
        try:
            user_id = validated_token[api_settings.USER_ID_CLAIM]
        except KeyError as error:
            raise InvalidToken(_("Token contained no recognizable user identification")) from error
        cached = user_cache.read(validated_token.payload, user_id)
        if cached.ended:
            raise InvalidToken({"detail": "This session was logged out; log in again.", "code": "session_ended"})
        user, digest = cached.user, cached.digest
        if user is None:
            try:
                user = get_user_model().objects.get(**{api_settings.USER_ID_FIELD: user_id})
            except get_user_model().DoesNotExist as error:
                raise AuthenticationFailed(_("User not found"), code="user_not_found") from error
            if cached.answered:
                user_cache.keep(user_id, user)
            digest = get_md5_hash_password(user.password)
        # simplejwt's own checks, on the user however it was read.
        if api_settings.CHECK_USER_IS_ACTIVE and not user.is_active:
            raise AuthenticationFailed(_("User is inactive"), code="user_inactive")
        if api_settings.CHECK_REVOKE_TOKEN and validated_token.get(api_settings.REVOKE_TOKEN_CLAIM) != digest:
            raise AuthenticationFailed(_("The user's password has been changed."), code="password_changed")
        return user
