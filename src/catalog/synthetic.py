"""A synthetic grocery catalogue of any size, named as a real shop's: for benchmarks and staging.

Names combine a brand, a variant, an item (English and Indian languages' names, with the other
spellings shoppers type in the description), a size and a pack: every product number below
`capacity()` gets a name of its own, so a search for one product's name can find it. About 40%
of descriptions say "organic", the common word the benchmark searches for.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from decimal import Decimal

BRANDS = (
    "Desi Farms", "Annapoorna", "Gokul", "Swaad", "Rasoi Ghar", "Kisan Gold", "Mitti", "Haat Bazaar",
    "Green Valley", "Shuddh", "Malabar Coast", "Punjab Mills", "Kaveri", "Ganga Sagar", "Thali",
    "Nani's Kitchen", "Vrindavan", "Chettinad Spice Co", "Sundarban", "Himalayan Harvest", "Dakshin",
    "Marwar", "Konkan", "Bengal Bazaar",
)  # fmt: skip
VARIANTS = (
    "", "Organic", "Premium", "Classic", "Unpolished", "Cold Pressed", "Stone Ground", "Roasted",
    "Extra Long Grain", "Low Fat", "Farm Fresh", "Double Filtered", "Homestyle", "Sprouted", "Hand Pounded",
    "Export Quality",
)  # fmt: skip
# (name on the pack, what else shoppers call or spell it)
ITEMS = (
    ("Toor Dal", "arhar tuvar pigeon peas"), ("Moong Dal", "mung green gram"), ("Masoor Dal", "red lentils"),
    ("Chana Dal", "bengal gram split chickpeas"), ("Urad Dal", "black gram ulundu"), ("Rajma", "kidney beans"),
    ("Kabuli Chana", "chickpeas garbanzo chole"), ("Basmati Rice", "basmathi chawal"),
    ("Sona Masoori Rice", "sona masuri"), ("Ponni Rice", "boiled rice"), ("Idli Rice", "idly rice"),
    ("Chakki Atta", "whole wheat flour aata"), ("Maida", "refined flour"), ("Besan", "gram flour kadalai maavu"),
    ("Sooji", "semolina rava suji"), ("Poha", "flattened rice aval chivda"), ("Jaggery", "gur vellam bellam"),
    ("Desi Ghee", "clarified butter neyyi"), ("Paneer", "cottage cheese"), ("Dahi", "curd yogurt thayir"),
    ("Garam Masala", "spice blend"), ("Chaat Masala", "chat masala"), ("Sambar Powder", "sambhar podi"),
    ("Rasam Powder", "rasam podi"), ("Haldi Powder", "turmeric manjal"), ("Jeera", "cumin seeds zeera"),
    ("Dhania Powder", "coriander dhaniya"), ("Elaichi", "cardamom elachi"), ("Laung", "cloves lavang"),
    ("Kali Mirch", "black pepper milagu"), ("Rai", "mustard seeds kadugu"), ("Methi Seeds", "fenugreek vendayam"),
    ("Imli", "tamarind puli"), ("Coconut Oil", "nariyal tel thengai ennai"), ("Mustard Oil", "sarson tel kachi ghani"),
    ("Gingelly Oil", "sesame til nalla ennai"), ("Mango Pickle", "aam ka achar avakaya"),
    ("Lime Pickle", "nimbu achaar"), ("Papad", "appalam pappadam"), ("Murukku", "chakli"),
    ("Aloo Bhujia", "namkeen sev"), ("Khakhra", "gujarati crackers"), ("Assam Tea", "chai patti"),
    ("Filter Coffee", "kaapi chicory blend"), ("Kesar", "saffron zafran"), ("Hing", "asafoetida perungayam"),
    ("Kasuri Methi", "dried fenugreek leaves"), ("Amchur", "dry mango powder"), ("Makhana", "fox nuts lotus seeds"),
    ("Kaju", "cashews cashew nuts"), ("Badam", "almonds"), ("Kishmish", "raisins"), ("Pista", "pistachios"),
    ("Sabudana", "sago javvarisi"), ("Ragi Flour", "finger millet nachni"), ("Jowar Atta", "sorghum flour"),
    ("Bajra Atta", "pearl millet flour"), ("Seviyan", "vermicelli semiya"), ("Chilli Powder", "chili mirchi"),
    ("Kashmiri Chilli", "kashmiri mirch chili"), ("Sendha Namak", "rock salt"), ("Kala Namak", "black salt"),
    ("Moong Sprouts", "green gram sprouts"), ("Gulab Jamun Mix", "instant sweet mix"), ("Rasgulla", "rosogolla"),
    ("Mysore Pak", "gram flour sweet"), ("Soan Papdi", "son papdi"), ("Chyawanprash", "herbal jam"),
    ("Green Cardamom", "elaichi elakkai"), ("Curry Leaves", "kadi patta karuveppilai"),
    ("Ginger Garlic Paste", "adrak lehsun"),
    ("Tomato Ketchup", "tomato sauce"), ("Mango Pulp", "alphonso aamras"), ("Coconut Milk", "thengai paal"),
    ("Dosa Batter", "dosai maavu"), ("Idli Batter", "idly maavu"), ("Frozen Parotta", "paratha porotta"),
    ("Alphonso Mango", "hapus aam"), ("Banana Chips", "nendran chips"), ("Jackfruit Chips", "chakka chips"),
    ("Bhindi", "okra ladies finger vendakkai"), ("Baingan", "brinjal eggplant kathirikai"),
    ("Palak", "spinach keerai"), ("Methi Leaves", "fenugreek greens"), ("Lauki", "bottle gourd sorakkai"),
    ("Karela", "bitter gourd pavakkai"), ("Drumsticks", "moringa murungakkai"), ("Shallots", "sambar onion"),
)  # fmt: skip
SIZES = ("100 g", "200 g", "250 g", "500 g", "1 kg", "2 kg", "5 kg", "10 kg", "200 ml", "500 ml", "1 l", "5 l")
PACKS = ("", "Pack of 2", "Pack of 3", "Pack of 4", "Pack of 6")
ORIGINS = (
    "Sourced from farms in Punjab", "Grown in the Kaveri delta", "From the hills of Kerala", "Packed in Gujarat",
    "Milled in Madhya Pradesh", "From small farmers in Andhra Pradesh", "Harvested in Assam", "Made in Tamil Nadu",
)  # fmt: skip
USES = (
    "Ideal for everyday cooking", "Perfect for festive sweets", "Great for tadka and tempering",
    "A staple of every Indian kitchen", "Best for biryani and pulao", "Adds aroma to curries and dals",
    "Ready to cook in minutes", "Rich in protein and fibre",
)  # fmt: skip
# The word about 40% of products carry, in their description at least.
COMMON_WORD = "organic"


@dataclass(frozen=True)
class Dimensions:
    """Mixed radix over brands, variants, items, sizes and packs: one number, one name."""

    sizes: tuple[int, ...] = (len(BRANDS), len(VARIANTS), len(ITEMS), len(SIZES), len(PACKS))

    def split(self, index: int) -> list[int]:
        digits = []
        for size in self.sizes:
            index, digit = divmod(index, size)
            digits.append(digit)
        return digits


def capacity() -> int:
    """How many products have a name of their own."""
    return math.prod(Dimensions().sizes)


def _stride() -> int:
    # Consecutive products spread over the whole space (neighbours differ in brand, item, size...),
    # and a stride coprime with the capacity visits every name once.
    stride = int(capacity() * 0.618) | 1
    while math.gcd(stride, capacity()) != 1:
        stride += 2
    return stride


def product(number: int) -> dict[str, object]:
    """The name, description, unit and price of product `number` (0 <= number < capacity())."""
    if not 0 <= number < capacity():
        raise ValueError(f"product number {number} is outside 0..{capacity() - 1}")
    brand, variant, item, size, pack = Dimensions().split(number * _stride() % capacity())
    rng = random.Random(number)  # noqa: S311 - sample data, not security
    item_name, also = ITEMS[item]
    name = " ".join(part for part in (BRANDS[brand], VARIANTS[variant], item_name, SIZES[size], PACKS[pack]) if part)
    organic = VARIANTS[variant] == "Organic" or rng.random() < 0.37
    description = (
        f"{item_name} ({also}) by {BRANDS[brand]}"
        + (", certified organic" if organic else "")
        + f". {rng.choice(ORIGINS)}. {rng.choice(USES)}."
    )
    return {
        "name": name,
        "description": description,
        "unit": SIZES[size],
        "price": Decimal(rng.randrange(1000, 99900)) / 100,
    }


def searches(number: int) -> dict[str, str]:
    """What shoppers type to find product `number`: its whole name; the name cut short, its last word half
    typed ("Desi Farms Toor Dal 100"); the name with two letters of its item swapped ("Desi Farms Toro Dal
    100 g"). And the common word."""
    _, _, item, _, _ = Dimensions().split(number * _stride() % capacity())
    name = str(product(number)["name"])
    words = ITEMS[item][0].split()
    word = max(words, key=len)
    # The two letters nearest the middle that differ, the first one kept ("Toor": "Toro", not "Toor").
    at = min((i for i in range(2, len(word)) if word[i - 1] != word[i]), key=lambda i: abs(i - len(word) // 2))
    swapped = word[: at - 1] + word[at] + word[at - 1] + word[at + 1 :]
    return {
        "common": COMMON_WORD,
        "name": name,
        "prefix": name[: len(name) - max(1, len(name.split()[-1]) // 2)],
        "typo": name.replace(word, swapped, 1),
    }
