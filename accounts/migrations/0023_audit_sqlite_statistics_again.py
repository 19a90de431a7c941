"""SQLite: planner statistics for the indexes migration 0020 added to the audit table.

0020 added (actor, outcome, time, id), (action, outcome, time, id) and (sequence, id) without
statistics, so SQLite rated each by its defaults, as selective as any other index: filtered by
one action, the audit page read the (action, outcome) index and sorted the action's records
(a twelfth of the log) instead of reading (action, time, id) in order. The statistics are
written again for every index of the table, as migration 0007 does (its docstring: why).
"""

from importlib import import_module

from django.db import migrations

statistics = import_module("accounts.migrations.0007_audit_sqlite_statistics")


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0022_alert_team_budget"),
    ]

    operations = [
        # Back to 0022 the indexes remain, and so do the statistics that describe them.
        migrations.RunPython(statistics.write_statistics, migrations.RunPython.noop)
    ]
