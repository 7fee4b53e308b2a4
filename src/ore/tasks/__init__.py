"""Task entry points: thin functions that load ids and call services."""
