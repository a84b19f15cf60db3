"""Storage: tables, migrations, the SQL store and its in-memory twin."""
