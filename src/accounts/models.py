from django.contrib.auth.models import AbstractUser, BaseUserManager
from django.db import models


class UserManager(BaseUserManager["User"]):
    """Users log in with their email address; there is no username."""

    use_in_migrations = True

    def _create(self, email: str, password: str | None, **fields) -> "User":
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def get_by_natural_key(self, username: str | None) -> "User":
        # Registration stores addresses lower-cased; login accepts any case.
        return self.get(email__iexact=username)

    def create_user(self, email: str, password: str | None = None, **fields) -> "User":
        fields.setdefault("is_staff", False)
        fields.setdefault("is_superuser", False)
        return self._create(email, password, **fields)

    def create_superuser(self, email: str, password: str | None = None, **fields) -> "User":
        fields.update(is_staff=True, is_superuser=True)
        return self._create(email, password, **fields)


class User(AbstractUser):
    username = None
    email = models.EmailField("email address", unique=True)

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    objects = UserManager()

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.email

    def save(self, *args, **kwargs) -> None:
        password_changed = self._password is not None and not self._state.adding
        super().save(*args, **kwargs)
        if password_changed:
            # Every refresh token issued before the change stops working; access
            # tokens carry a hash of the old password (CHECK_REVOKE_TOKEN) and fail too.
            from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

            outstanding = OutstandingToken.objects.filter(user=self).exclude(blacklistedtoken__isnull=False)
            BlacklistedToken.objects.bulk_create(
                [BlacklistedToken(token=token) for token in outstanding], ignore_conflicts=True
            )
