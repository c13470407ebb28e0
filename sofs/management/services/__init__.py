"""The management service layer: the one place for queries and mutations (CLI, REST, web wrap it)."""
