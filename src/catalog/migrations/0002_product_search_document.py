"""Full-text search on PostgreSQL (catalog/search.py): a stored tsvector of each product's name
(weight A) and description (weight B), kept by the server (a generated column: no code path can
forget it), and a GIN index over it. Nothing on SQLite, which searches by substring.

Not a model field: SQLite has no tsvector, and the ORM never writes or reads it. A description is
indexed up to its first 100,000 characters: a tsvector holds at most 1 MB, and a longer one would
fail the product's save.

Adding a stored generated column rewrites the table under an exclusive lock, held until the deploy's
migrations commit (migrate_atomic): about 6 s per 200,000 products here, during which catalogue
reads, cart adds and orders wait (and answer 503 past their statement timeout). Deploy it in a quiet
hour on a large catalogue.
"""

from django.db import migrations

COLUMN = """
ALTER TABLE catalog_product ADD COLUMN search_document tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector('english'::regconfig, coalesce(name, '')), 'A')
    || setweight(to_tsvector('english'::regconfig, left(coalesce(description, ''), 100000)), 'B')
) STORED
"""
INDEX = "CREATE INDEX catalog_product_search ON catalog_product USING gin (search_document)"


def add(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(COLUMN)
        schema_editor.execute(INDEX)


def remove(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE catalog_product DROP COLUMN search_document")  # drops its index too


class Migration(migrations.Migration):
    dependencies = [("catalog", "0001_initial")]

    operations = [migrations.RunPython(add, remove)]
