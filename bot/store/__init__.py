"""The embedded store: SQLite through sqlite-utils, WAL mode, on one dedicated thread."""
