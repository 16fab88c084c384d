from rest_framework_simplejwt import authentication
from rest_framework_simplejwt.exceptions import InvalidToken
from rest_framework_simplejwt.tokens import Token

from . import sessions


class JWTAuthentication(authentication.JWTAuthentication):
    """simplejwt's, refusing an access token whose session was ended by logout (accounts/sessions.py)."""

    def get_validated_token(self, raw_token: bytes) -> Token:
        token = super().get_validated_token(raw_token)
        if sessions.ended(token.payload):
            raise InvalidToken({"detail": "This session was logged out; log in again.", "code": "session_ended"})
        return token
