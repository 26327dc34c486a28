"""The job database: SQLite and PostgreSQL behind one interface, migrations, outbox and webhook rows, data-dir lock."""
