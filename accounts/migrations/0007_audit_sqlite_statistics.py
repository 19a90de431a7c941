"""SQLite: planner statistics for the audit table, which Django never gathers.

Without sqlite_stat1 rows SQLite rates every index's equality as selective as any other and
breaks the tie by schema order. Filtered by a key and outcome "succeeded", the audit page then
walked the outcome index (96 % of the records) looking for the key's few records: half a second
at a million records (bench/audit.py). These rows describe the shape of each indexed column,
which stays the same however long the log grows (three outcomes, a dozen actions, tens of
actors, thousands of keys), so the planner starts from the most selective filter. A later
ANALYZE replaces them with measured ones. PostgreSQL gathers its own (autovacuum): nothing
happens there.

A migration that adds an index to the audit table should run `write_statistics` again, or
SQLite rates the new index by its defaults.
"""

from django.db import migrations

TABLE = "accounts_auditevent"
ROWS = 1_000_000  # the scale the estimates are for; the planner compares ratios
# Distinct values per column, roughly; columns not listed count as unique.
DISTINCT = {
    "actor_id": 30,
    "actor_username": 30,
    "actor_role": 4,
    "action": 12,
    "key_id": 5000,
    "outcome": 3,
}


def write_statistics(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "sqlite":
        return
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE sqlite_master")  # creates sqlite_stat1 when it is missing
        cursor.execute("DELETE FROM sqlite_stat1 WHERE tbl = %s", [TABLE])
        cursor.execute(f"PRAGMA index_list({TABLE})")
        for index in [row[1] for row in cursor.fetchall()]:
            cursor.execute(f'PRAGMA index_info("{index}")')
            columns = [row[2] for row in sorted(cursor.fetchall())]
            rows_per_prefix, matching = [], ROWS
            for column in columns:
                matching = max(1, matching // DISTINCT.get(column, ROWS))
                rows_per_prefix.append(str(matching))
            stat = " ".join([str(ROWS), *rows_per_prefix])
            cursor.execute(
                "INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES (%s, %s, %s)",
                [TABLE, index, stat],
            )
        cursor.execute("ANALYZE sqlite_master")  # loads them into this connection


def remove_statistics(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute("DELETE FROM sqlite_stat1 WHERE tbl = %s", [TABLE])


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0006_audit_actor_action_index"),
    ]

    operations = [migrations.RunPython(write_statistics, remove_statistics)]
