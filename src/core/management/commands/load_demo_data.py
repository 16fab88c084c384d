"""Idempotent demo data: categories, products and a demo user.

Run it as often as you like: rows are matched by slug/email and updated in
place, so it never duplicates anything and never touches other data.
"""

from decimal import Decimal

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from catalog.models import Category, Product
from core.db import long_transaction
from demo_login import EMAIL as DEMO_EMAIL
from demo_login import PASSWORD as DEMO_PASSWORD

CATALOGUE = {
    ("Fruits & Vegetables", "fruits-vegetables"): [
        ("Alphonso Mangoes", "1 kg", "450.00", 40),
        ("Red Onions", "1 kg", "38.00", 200),
        ("Fresh Coriander", "100 g", "15.00", 80),
        ("Green Chillies", "250 g", "20.00", 120),
    ],
    ("Rice, Atta & Dals", "rice-atta-dals"): [
        ("Basmati Rice", "5 kg", "625.00", 60),
        ("Whole Wheat Atta", "10 kg", "480.00", 50),
        ("Toor Dal", "1 kg", "165.00", 90),
        ("Masoor Dal", "1 kg", "120.00", 0),
    ],
    ("Spices & Masalas", "spices-masalas"): [
        ("Garam Masala", "100 g", "85.00", 75),
        ("Turmeric Powder", "200 g", "55.00", 110),
        ("Kashmiri Chilli Powder", "100 g", "70.00", 65),
    ],
    ("Dairy & Snacks", "dairy-snacks"): [
        ("Paneer", "200 g", "90.00", 30),
        ("Ghee", "500 ml", "340.00", 45),
        ("Bhujia Sev", "400 g", "110.00", 100),
    ],
}


class Command(BaseCommand):
    help = "Load idempotent demo data (categories, products, and the demo user)."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="Do nothing when any product exists (what dev.up uses on every start).",
        )

    @long_transaction()
    def handle(self, *args, if_empty: bool = False, **options) -> None:
        if if_empty and Product.objects.exists():
            self.stdout.write("Catalogue already has products; demo data not loaded.")
            return
        products = 0
        for (name, slug), items in CATALOGUE.items():
            category, _ = Category.objects.update_or_create(slug=slug, defaults={"name": name})
            for product_name, unit, price, stock in items:
                Product.objects.update_or_create(
                    slug=product_name.lower().replace(" ", "-").replace("&", "and"),
                    defaults={
                        "category": category,
                        "name": product_name,
                        "unit": unit,
                        "price": Decimal(price),
                        "stock": stock,
                        "description": f"{product_name}, {unit}. Delivered fresh by DesiDeliver.",
                    },
                )
                products += 1
        user, created = get_user_model().objects.get_or_create(
            email=DEMO_EMAIL, defaults={"first_name": "Demo", "last_name": "Customer"}
        )
        if created:
            user.set_password(DEMO_PASSWORD)
            user.save(update_fields=["password"])
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo data ready: {len(CATALOGUE)} categories, {products} products, "
                f"user {DEMO_EMAIL} / {DEMO_PASSWORD}"
            )
        )
