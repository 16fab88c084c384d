"""Product search: the words a shopper typed, to the products they mean, best first.

On PostgreSQL, full-text search over `catalog_product.search_document`, a stored tsvector
(migration 0002: the name weighted A, the description B, English stemming) with a GIN index:
- all words must match: whole words, the last one as the start of a word (it may be half typed);
  if that finds nothing, every word as the start of one ("bas ric" finds basmati rice);
- ranked: products whose name holds every word first (cover density over the name alone), then
  by rank over name and description, then the shorter name (the closer match), then by name;
- a search that still finds nothing is tried once more with each word that matches no product replaced
  by the catalogue's word one typo away (a letter dropped, added, changed or two swapped), the
  most common one if several: "bamsati" finds basmati. The index answers which exist, in one query.

On SQLite (the native stack), every word as a substring of the name or description, products
whose name holds every word first; no typo correction.
"""

from __future__ import annotations

import string
import unicodedata

from django.db import connection
from django.db.models import BooleanField, Case, F, FloatField, IntegerField, Q, QuerySet, Value, When
from django.db.models.expressions import RawSQL
from django.db.models.functions import Length

# A typo is looked for in words this long only: shorter ones are too often another real word, and
# longer ones have thousands of strings one typo away.
TYPO_LENGTHS = range(4, 21)
# At most this many words of one search are corrected: each costs a few index probes.
TYPO_WORDS = 2
# A word this short matches only itself, never as a prefix ("b:*" would read much of the index).
PREFIX_MIN_LENGTH = 2


def words(text: str) -> list[str]:
    """The words of `text`, lowercased, each once, in order: runs of letters, digits and combining marks
    (Unicode categories L, N, M: Devanagari's and Tamil's vowel signs are marks). Nothing else reaches
    to_tsquery, whose operators (& | ! : * ( ) < > ') are none of these."""
    found: list[str] = []
    current: list[str] = []
    for character in text.lower() + " ":
        if unicodedata.category(character)[0] in "LNM":
            current.append(character)
        elif current:
            word = "".join(current)
            if word not in found:
                found.append(word)
            current = []
    return found


def matching(queryset: QuerySet, found: list[str]) -> QuerySet:
    """`queryset` narrowed to the products the search's words (words(): the filter has them) find, best first."""
    if len(found) > 1 and len(found[-1]) < PREFIX_MIN_LENGTH:
        found = found[:-1]  # a last letter still being typed ("1 k" of "1 kg"): too short to say anything
    if not found:
        return queryset.none()
    if connection.vendor != "postgresql":
        return _substring(queryset, found)
    # Narrowest first: whole words but the last, which may be half typed (a common word's prefix
    # reads a long stretch of the index: "1:*" is 1, 10, 100...). Then every word a prefix, then typos.
    # Whether the catalogue holds the words at all, whatever the other filters: a search that finds
    # them outside the chosen category needs no correction.
    with connection.cursor() as cursor:
        for query in (_tsquery(found, prefixes=1), _tsquery(found, prefixes=len(found))):
            if _finds(cursor, query):
                return _full_text(queryset, query)
    return _full_text(queryset, _tsquery(_corrected(found), prefixes=1))


def _tsquery(found: list[str], prefixes: int) -> str:
    """All of `found`, the last `prefixes` of them as the start of a word (if PREFIX_MIN_LENGTH long)."""
    exact = len(found) - prefixes
    return " & ".join(
        f"{word}:*" if n >= exact and len(word) >= PREFIX_MIN_LENGTH else word for n, word in enumerate(found)
    )


# SQL of constants only: the words reach PostgreSQL as parameters (%s), never in the text.
MATCHES = "catalog_product.search_document @@ to_tsquery('english', %s)"
RANK_IN_NAME = "ts_rank_cd('{0,0,0,1}', catalog_product.search_document, to_tsquery('english', %s))"  # D, C, B, A
RANK = "ts_rank(catalog_product.search_document, to_tsquery('english', %s))"


def _full_text(queryset: QuerySet, tsquery: str) -> QuerySet:
    query = (tsquery,)
    matches = RawSQL(MATCHES, query, output_field=BooleanField())  # noqa: S611 - constant SQL, words as parameters
    in_name = RawSQL(RANK_IN_NAME, query, output_field=FloatField())  # noqa: S611 - as above
    overall = RawSQL(RANK, query, output_field=FloatField())  # noqa: S611 - as above
    return queryset.filter(matches).order_by(in_name.desc(), overall.desc(), Length("name"), "name", "id")


def _substring(queryset: QuerySet, found: list[str]) -> QuerySet:
    every = Q()
    in_name = Q()
    for word in found:
        every &= Q(name__icontains=word) | Q(description__icontains=word)
        in_name &= Q(name__icontains=word)
    name_first = Case(When(in_name, then=Value(0)), default=Value(1), output_field=IntegerField())
    return queryset.filter(every).order_by(name_first, Length("name"), F("name"), "id")


def one_typo_away(word: str) -> set[str]:
    """Every string one edit from `word`: a letter dropped, two swapped, one changed, one added."""
    letters = string.ascii_lowercase + string.digits
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    return (
        {left + right[1:] for left, right in splits if right}
        | {left + right[1] + right[0] + right[2:] for left, right in splits if len(right) > 1}
        | {left + c + right[1:] for left, right in splits if right for c in letters}
        | {left + c + right for left, right in splits for c in letters}
    ) - {word}


# From an array, not a literal: the planner then probes the index per query, where with the query
# in the text it expects an unknown word to be common and scans every product (116 ms, not 8 ms).
FINDS = """
SELECT EXISTS (SELECT FROM unnest(%s::text[]) AS query, catalog_product
                WHERE is_active AND search_document @@ to_tsquery('english', query))
"""


def _finds(cursor, tsquery: str) -> bool:
    cursor.execute(FINDS, [[tsquery]])
    return cursor.fetchone()[0]


# A word some product holds (or begins), or a stop word ("with", "from"), which no tsvector holds.
HELD = """
SELECT numnode(to_tsquery('english', %(word)s)) = 0
    OR EXISTS (SELECT FROM unnest(ARRAY[%(word)s]) AS query, catalog_product
                WHERE is_active AND search_document @@ to_tsquery('english', query))
"""
# Of the strings one typo away, the one most products hold (counted up to 1,000 each), if any holds one.
COMMONEST = """
SELECT candidate FROM unnest(%s::text[]) AS candidate
 WHERE EXISTS (SELECT FROM catalog_product WHERE is_active AND search_document @@ to_tsquery('english', candidate))
 ORDER BY (SELECT count(*) FROM (SELECT FROM catalog_product
                                  WHERE is_active AND search_document @@ to_tsquery('english', candidate)
                                  LIMIT 1000) AS hits) DESC, candidate
 LIMIT 1
"""


def _corrected(found: list[str]) -> list[str]:
    """`found` with the first TYPO_WORDS words that no product holds (stop words aside) each replaced by
    the commonest word one typo away, if any."""
    corrected, tried = [], 0
    with connection.cursor() as cursor:
        for word in found:
            if tried == TYPO_WORDS or len(word) not in TYPO_LENGTHS or not word.isascii():
                corrected.append(word)
                continue
            cursor.execute(HELD, {"word": f"{word}:*"})
            if cursor.fetchone()[0]:
                corrected.append(word)
                continue
            tried += 1
            cursor.execute(COMMONEST, [sorted(one_typo_away(word))])
            row = cursor.fetchone()
            corrected.append(row[0] if row else word)
    return corrected
