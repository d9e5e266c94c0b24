"""PostgreSQL adapters: engine, tables, migrations, repositories and the unit of work."""
