"""Print every model's row count as JSON, to compare databases (db.transfer)."""

import json

from django.apps import apps
from django.core.management.base import BaseCommand


def concrete_models() -> list:
    return [model for model in apps.get_models() if model._meta.managed and not model._meta.proxy]


def model_counts() -> dict[str, int]:
    return {model._meta.label: model._default_manager.count() for model in concrete_models()}


class Command(BaseCommand):
    help = "Print {app_label.Model: row count} for every concrete model, as JSON."

    def handle(self, *args, **options) -> None:
        self.stdout.write(json.dumps(model_counts(), sort_keys=True))
