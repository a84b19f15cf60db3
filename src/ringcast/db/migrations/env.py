"""Alembic environment: the engine comes from the caller (see ringcast.db.migrate).

On SQLite, a column's type changes by copying its table into a new one and dropping the
old (Alembic's batch mode). With foreign keys enforced, dropping a table that others
refer to would fail as soon as it holds rows, so they are switched off for the migration
(outside any transaction: SQLite ignores the switch inside one), checked by hand before
the commit, and switched on again: SQLite's own recipe for changing a table.
"""

from __future__ import annotations

from alembic import context

from ringcast.db.tables import metadata

engine = context.config.attributes["engine"]
with engine.connect() as connection:
    sqlite = connection.dialect.name == "sqlite"
    driver = connection.connection.driver_connection
    if sqlite:
        driver.execute("PRAGMA foreign_keys=OFF")
    try:
        with connection.begin():
            context.configure(
                connection=connection, target_metadata=metadata, render_as_batch=sqlite
            )
            context.run_migrations()
            if sqlite:
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
                if broken:
                    raise RuntimeError(f"migration left rows with dangling references: {broken}")
    finally:
        if sqlite:
            driver.execute("PRAGMA foreign_keys=ON")
