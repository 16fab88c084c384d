"""A realistic catalogue and a crowd of shoppers, for load benchmarks and staging.

`manage.py seed_catalog --products 2000 --categories 20 --users 300` adds
products and users that do not exist yet (matched by slug and email) and
prints, as its last line, JSON with the users' password and the ids of the
products it made, so a benchmark can log in and shop. Rerunning it adds
nothing. All users share one password, hashed once: hashing is deliberately
slow, and a benchmark needs hundreds of accounts, not hundreds of hashes.
"""

import json
import random
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.core.management.base import BaseCommand, CommandParser

from catalog import cache as catalog_cache
from catalog.models import Category, Product
from core.db import long_transaction

WORDS = (
    *("organic", "basmati", "toor", "moong", "masoor", "chana", "rajma", "atta", "besan", "jaggery", "ghee"),
    *("paneer", "curd", "lassi", "chai", "masala", "turmeric", "cumin", "coriander", "cardamom", "clove"),
    *("pepper", "mustard", "fenugreek", "tamarind", "coconut", "mango", "banana", "onion", "tomato", "potato"),
    *("okra", "brinjal", "spinach", "methi", "curry", "leaf", "ginger", "garlic", "chilli", "poha", "rava"),
)
UNITS = ("100 g", "250 g", "500 g", "1 kg", "5 kg", "1 l", "6 pcs", "1 pc")


class Command(BaseCommand):
    help = "Add a benchmark-sized catalogue and shoppers (idempotent); prints their credentials as JSON."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--products", type=int, default=2000, help="Products in all (default 2000).")
        parser.add_argument("--categories", type=int, default=20, help="Categories to spread them over (default 20).")
        parser.add_argument("--users", type=int, default=300, help="Shoppers bench-N@bench.local (default 300).")
        parser.add_argument("--stock", type=int, default=1_000_000, help="Stock of each product (default 1000000).")
        parser.add_argument("--password", default="Bench-shopper-2024", help="The shoppers' password.")

    @long_transaction()
    def handle(self, *args, products: int, categories: int, users: int, stock: int, password: str, **options) -> None:
        rng = random.Random(2024)  # the same catalogue on every run  # noqa: S311 - not security
        made = [
            Category.objects.get_or_create(
                slug=f"bench-{n:02d}", defaults={"name": f"Bench aisle {n:02d}", "description": "Benchmark data"}
            )[0]
            for n in range(categories)
        ]
        existing = set(Product.objects.filter(slug__startswith="bench-").values_list("slug", flat=True))
        new = []
        for n in range(products):
            slug = f"bench-product-{n:05d}"
            if slug in existing:
                continue
            name = " ".join(rng.sample(WORDS, 3)).title()
            new.append(
                Product(
                    category=made[n % categories],
                    name=f"{name} {n}",
                    slug=slug,
                    description=" ".join(rng.choices(WORDS, k=24)),
                    price=Decimal(rng.randrange(1000, 99900)) / 100,
                    unit=rng.choice(UNITS),
                    stock=stock,
                )
            )
        Product.objects.bulk_create(new, batch_size=500)
        catalog_cache.invalidate()

        model = get_user_model()
        emails = [f"bench-{n:04d}@bench.local" for n in range(users)]
        have = set(model.objects.filter(email__in=emails).values_list("email", flat=True))
        hashed = make_password(password)
        model.objects.bulk_create(
            [model(email=e, password=hashed, first_name="Bench", last_name=e[6:10]) for e in emails if e not in have]
        )
        ours = Product.objects.filter(slug__startswith="bench-product-").order_by("id")
        ids = list(ours.values_list("id", flat=True))
        self.stdout.write(f"{len(new)} products and {users - len(have)} users added")
        self.stdout.write(json.dumps({"password": password, "emails": emails, "product_ids": ids}))
