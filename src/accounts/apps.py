from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"

    def ready(self) -> None:
        from . import (
            schema,  # noqa: F401 - registers the OpenAPI extension
            user_cache,  # noqa: F401 - drops a changed user from the cache
        )
