"""A realistic catalogue and a crowd of shoppers, for load benchmarks and staging.

`manage.py seed_catalog --products 2000 --categories 20 --users 300` adds
products and users that do not exist yet (matched by slug and email) and
prints, as its last line, JSON with the users' password, the ids of the
products it made and searches to time (a common word, one product's name, a
prefix and a typo of it), so a benchmark can log in, shop and search.
Rerunning it adds nothing. Names and descriptions come from catalog.synthetic:
a shop's, not random words, so searches and their indexes behave as they would.
All users share one password, hashed once: hashing is deliberately slow, and a
benchmark needs hundreds of accounts, not hundreds of hashes.
"""

import itertools
import json

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection

from catalog import cache as catalog_cache
from catalog import synthetic
from catalog.models import Category, Product
from core.db import long_transaction


def slug(number: int) -> str:
    return f"bench-product-{number:07d}"


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
        if not 0 < products <= synthetic.capacity():
            raise CommandError(f"--products takes 1 to {synthetic.capacity()} (names of their own); got {products}")
        made = [
            Category.objects.get_or_create(
                slug=f"bench-{n:02d}", defaults={"name": f"Bench aisle {n:02d}", "description": "Benchmark data"}
            )[0]
            for n in range(categories)
        ]
        existing = set(Product.objects.filter(slug__startswith="bench-product-").values_list("slug", flat=True))
        missing = (n for n in range(products) if slug(n) not in existing)
        added = 0
        # In batches: a million Product objects at once would outgrow the web container's memory.
        while batch := list(itertools.islice(missing, 5000)):
            Product.objects.bulk_create(
                Product(category=made[n % categories], slug=slug(n), stock=stock, **synthetic.product(n)) for n in batch
            )
            added += len(batch)
        if added and connection.vendor == "postgresql":
            # Fresh statistics: a bulk load leaves the planner guessing until autovacuum's next analyze.
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE catalog_product")
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
        self.stdout.write(f"{added} products and {users - len(have)} users added")
        self.stdout.write(
            json.dumps(
                {
                    "password": password,
                    "emails": emails,
                    "product_ids": ids,
                    "searches": synthetic.searches(products // 2),
                }
            )
        )
